"""Central control: the Conductor, launchers, the rcc_conductor command."""
