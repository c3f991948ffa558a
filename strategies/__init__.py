"""thinkfast.strategies: one module per strategy.

The Strategy seam and its registry live one layer down, in `thinkfast.orchestrator.strategy`,
so that `think` (orchestrator) can find strategies by name without importing upwards; they
are re-exported here for strategy authors. Importing this package imports no strategy
module: built-ins and plugins alike load on first use by name (`get_strategy("best_of_n")`).
"""

from thinkfast.orchestrator.strategy import (
    ENTRY_POINT_GROUP,
    Strategy,
    available_strategies,
    builtin_strategies,
    get_strategy,
    register_strategy,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Strategy",
    "available_strategies",
    "builtin_strategies",
    "get_strategy",
    "register_strategy",
]
