"""thinkfast.engine: turning prompts into tokens, here or elsewhere, and what that costs.

The seam (`base.Engine`), its types and errors sit here; `local/` is the numpy runtime,
`checkpoint/` reads model folders and GGUF files, `remote/` talks to OpenAI-compatible
servers, `hardware/` emulates target hardware and stamps generations with its timing.
"""

from .base import Engine, TextStream
from .errors import (
    ContextLengthError,
    EngineError,
    HardwareError,
    InvalidRequestError,
    ModelLoadError,
    RemoteEngineError,
    ThinkfastError,
    UnsupportedArchitectureError,
)
from .local import LocalEngine
from .remote import (
    OpenAIEngine,
    RemoteContextLengthError,
    RemoteRequestError,
    RetryPolicy,
)
from .types import (
    ChatMessage,
    Generation,
    GenerationRequest,
    Sample,
    Timing,
    TokenLogprob,
    TopLogprob,
    Usage,
)

__all__ = [
    "ChatMessage",
    "ContextLengthError",
    "Engine",
    "TextStream",
    "EngineError",
    "Generation",
    "GenerationRequest",
    "HardwareError",
    "InvalidRequestError",
    "LocalEngine",
    "ModelLoadError",
    "OpenAIEngine",
    "RemoteContextLengthError",
    "RemoteEngineError",
    "RemoteRequestError",
    "RetryPolicy",
    "Sample",
    "ThinkfastError",
    "Timing",
    "TokenLogprob",
    "TopLogprob",
    "UnsupportedArchitectureError",
    "Usage",
]
