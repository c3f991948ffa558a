"""thinkfast.strategies: one module per strategy, the registry and plugin loading.

Importing this package imports no strategy module: built-ins and plugins alike load on
first use by name (`get_strategy("best_of_n")`).
"""

from .base import (
    BUILTINS,
    ENTRY_POINT_GROUP,
    Strategy,
    available_strategies,
    get_strategy,
    register_strategy,
)

__all__ = [
    "BUILTINS",
    "ENTRY_POINT_GROUP",
    "Strategy",
    "available_strategies",
    "get_strategy",
    "register_strategy",
]
