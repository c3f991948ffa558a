"""thinkfast.engine.hardware: profiles, model specs, placement and timing on target hardware.

Pure functions, no runtime needed: `project("llama-3.1-405b", "cs3")` answers from the
config alone. `stamping.EmulatedEngine` is where engines meet the emulator: it stamps
every generation with its emulated seconds; `spec_guess` names the spec a served
model's name denotes. `thinkfast hw profiles` / `thinkfast hw project` expose them on the command
line (engine/hardware/cli.py, loaded only by the CLI).
"""

from .calibration import CALIBRATION, calibration_table, fit_constants
from .emulate import CallShape, PaceSchedule, emulate_call, pace_schedule
from .model_spec import BUNDLED_SPECS, ModelSpec, get_spec, spec_names
from .placement import Placement, place
from .profiles import PROFILES, HardwareProfile, get_profile, profile_names
from .spec_guess import guess_model_spec
from .stamping import EmulatedEngine, stamp_emulated
from .timing import Projection, decode_step_s, prefill_s, project

__all__ = [
    "BUNDLED_SPECS",
    "CALIBRATION",
    "CallShape",
    "EmulatedEngine",
    "HardwareProfile",
    "ModelSpec",
    "PROFILES",
    "PaceSchedule",
    "Placement",
    "Projection",
    "calibration_table",
    "decode_step_s",
    "emulate_call",
    "fit_constants",
    "get_profile",
    "get_spec",
    "guess_model_spec",
    "pace_schedule",
    "place",
    "prefill_s",
    "profile_names",
    "project",
    "spec_names",
    "stamp_emulated",
]
