"""thinkfast.engine: turning prompts into tokens, here or elsewhere, and what that costs."""

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
from .openai_engine import (
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
