"""``rcc_dashboard``: a web page to aim, watch, start and stop every camera of a colony (over a Conductor)."""
