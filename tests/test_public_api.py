"""The public surface is exactly what is intended, and every error is a ThinkfastError."""

import importlib
import importlib.metadata
import inspect
import subprocess
import sys

import thinkfast

PUBLIC = {
    # engine seam and engines
    "Engine", "LocalEngine", "OpenAIEngine", "ChatMessage", "GenerationRequest", "Generation",
    "Sample", "Usage", "Timing",
    # hardware emulator
    "HardwareProfile", "ModelSpec", "Placement", "Projection", "PROFILES", "get_profile",
    "get_spec", "place", "project",
    # scaffolding
    "think", "athink", "astream", "Answer", "Budget", "Event", "PromptPack", "Strategy",
    "register_strategy", "get_strategy", "available_strategies",
    # evals
    "Task", "EvalSample", "get_task", "register_task", "run_eval",
    # errors
    "ThinkfastError", "ModelLoadError", "UnsupportedArchitectureError", "InvalidRequestError",
    "ContextLengthError", "EngineError", "RemoteEngineError", "HardwareError", "StrategyError",
    "StrategyConfigError", "UnknownStrategyError", "BudgetExhaustedError",
    "AllBranchesFailedError", "EvalError", "RunningLoopError",
    "__version__",
}  # fmt: skip

LAYERS = [
    "engine",
    "engine.local",
    "engine.checkpoint",
    "engine.checkpoint.gguf",
    "engine.remote",
    "engine.hardware",
    "orchestrator",
    "strategies",
    "evals",
]


def test_top_level_surface_is_exactly_the_intended_one():
    assert set(thinkfast.__all__) == PUBLIC
    for name in thinkfast.__all__:
        assert getattr(thinkfast, name) is not None


def test_every_layer_exports_what_it_lists():
    for layer in LAYERS:
        module = importlib.import_module(f"thinkfast.{layer}")
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert not missing, f"thinkfast.{layer} lists but lacks {missing}"


def test_every_public_exception_is_a_thinkfast_error():
    for layer in LAYERS:
        module = importlib.import_module(f"thinkfast.{layer}")
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                assert issubclass(obj, thinkfast.ThinkfastError), f"{layer}.{name}"


def _loaded_after(code: str) -> set[str]:
    """The thinkfast modules (and numpy) a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in sys.modules if m.startswith(('thinkfast', 'numpy'))))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.splitlines()[-1].split())  # the last line: after any help text


def test_import_and_the_cli_help_load_no_layer():
    assert _loaded_after("import thinkfast") == {"thinkfast"}
    for flag in ("--help", "--version"):
        code = f"from thinkfast.cli import main\ntry:\n    main([{flag!r}])\nexcept SystemExit:\n    pass"
        assert _loaded_after(code) == {"thinkfast", "thinkfast.cli"}, flag


def test_the_version_is_written_once():
    assert importlib.metadata.version("thinkfast") == thinkfast.__version__
