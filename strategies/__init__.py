"""thinkfast.strategies: one module per strategy, the registry and plugin loading."""
