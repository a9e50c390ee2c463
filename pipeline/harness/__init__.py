"""Running scenarios as tests: the suite and the pytest plugin."""
