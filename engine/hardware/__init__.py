"""thinkfast.engine.hardware: profiles, model specs, placement and timing on target hardware."""
