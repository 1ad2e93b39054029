"""TTL backends: simulated (default off a Pi); Raspberry Pi backends are chosen in ..backends."""
