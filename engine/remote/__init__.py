"""thinkfast.engine.remote: the Engine seam over OpenAI-compatible HTTP servers.

`openai_engine` (`OpenAIEngine`: pooled client, n>1 fallback, streaming), `wire` (request
bodies out, choices / usage / SSE chunks in, pure functions), `retry` (the tenacity loop
with deadline and Retry-After), `pool` (`EndpointPool`: several endpoints of one
model as one engine, least-loaded routing and failover), `providers` (Cerebras, Groq, OpenAI, ... presets).
"""

from .openai_engine import OpenAIEngine, RemoteContextLengthError, RemoteRequestError
from .pool import EndpointPool, PoolSaturatedError
from .providers import PROVIDERS, Provider, get_provider
from .retry import RetryPolicy

__all__ = [
    "EndpointPool",
    "OpenAIEngine",
    "PoolSaturatedError",
    "PROVIDERS",
    "Provider",
    "RemoteContextLengthError",
    "RemoteRequestError",
    "RetryPolicy",
    "get_provider",
]
