"""thinkfast.engine.hardware: profiles, model specs, placement and timing on target hardware.

Pure functions, no runtime needed: `project("llama-3.1-405b", "cs3")` answers from the
config alone. `thinkfast hw profiles` / `thinkfast hw project` expose them on the command
line (engine/hardware/cli.py, loaded only by the CLI).
"""

from .calibration import CALIBRATION, calibration_table, fit_constants
from .emulate import CallShape, PaceSchedule, emulate_call, pace_schedule
from .model_spec import BUNDLED_SPECS, ModelSpec, get_spec, spec_names
from .placement import Placement, place
from .profiles import PROFILES, HardwareProfile, get_profile, profile_names
from .timing import Projection, decode_step_s, prefill_s, project

# Read by OpenAIEngine to guess a served model's spec from its name.
SPEC_NAMES: tuple[str, ...] = tuple(spec_names())

__all__ = [
    "BUNDLED_SPECS",
    "CALIBRATION",
    "CallShape",
    "HardwareProfile",
    "ModelSpec",
    "PROFILES",
    "PaceSchedule",
    "Placement",
    "Projection",
    "SPEC_NAMES",
    "calibration_table",
    "decode_step_s",
    "emulate_call",
    "fit_constants",
    "get_profile",
    "get_spec",
    "pace_schedule",
    "place",
    "prefill_s",
    "profile_names",
    "project",
    "spec_names",
]
