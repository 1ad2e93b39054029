"""The acquisition agent that runs on each Raspberry Pi (or as a local process with simulated cameras)."""
