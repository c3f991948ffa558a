"""Presets for OpenAI-compatible providers: where each one lives and where its key comes from.

`OpenAIEngine(model, provider="groq")` reads the base URL and the API-key environment
variable from here, so a user names a provider instead of remembering URLs. The figures
are the providers' documented defaults:

- cerebras: https://api.cerebras.ai/v1, key in CEREBRAS_API_KEY (inference-docs.cerebras.ai)
- groq: https://api.groq.com/openai/v1, key in GROQ_API_KEY; "only n=1 is supported"
  (console.groq.com/docs/openai), so `n` samples are always sent as parallel single calls
- openai: https://api.openai.com/v1, key in OPENAI_API_KEY
- vllm: `vllm serve` listens on port 8000 by default
- sglang: `python -m sglang.launch_server` listens on port 30000 by default
- ollama: the OpenAI-compatible endpoint of Ollama is on port 11434 under /v1
- llamacpp: llama.cpp's `llama-server` listens on port 8080 by default
- thinkfast: `thinkfast serve` (this package) listens on port 8800 by default

Local servers take no key; a key set in THINKFAST_API_KEY is still sent if present.
"""

from __future__ import annotations

import os

import httpx
from pydantic import BaseModel, ConfigDict

from ..errors import InvalidRequestError

__all__ = [
    "Provider",
    "PROVIDERS",
    "get_provider",
    "resolve_api_key",
    "resolve_base_url",
    "THINKFAST_SERVE_PORT",
]

THINKFAST_SERVE_PORT = 8800


class Provider(BaseModel):
    """One OpenAI-compatible service: its default URL and how to authenticate."""

    model_config = ConfigDict(frozen=True)

    name: str
    base_url: str
    api_key_env: str | None = None
    # True: honours `n`; False: documented to reject or ignore n > 1, so the engine sends
    # parallel single calls from the start; None: unknown, try `n` and fall back if ignored.
    supports_n: bool | None = None
    # Whether /v1/completions (raw prompts) exists there; chat-only providers get a clear
    # error instead of a 404 when a raw prompt is sent.
    supports_completions: bool = True
    # The chat field for the token budget: OpenAI, Cerebras and Groq document
    # max_completion_tokens (max_tokens is deprecated there and refused by OpenAI's
    # reasoning models); self-hosted servers all read max_tokens.
    chat_max_tokens_field: str = "max_tokens"
    local: bool = False


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            name="cerebras",
            base_url="https://api.cerebras.ai/v1",
            api_key_env="CEREBRAS_API_KEY",
            chat_max_tokens_field="max_completion_tokens",
        ),
        Provider(
            name="groq",
            base_url="https://api.groq.com/openai/v1",
            api_key_env="GROQ_API_KEY",
            supports_n=False,
            supports_completions=False,
            chat_max_tokens_field="max_completion_tokens",
        ),
        Provider(
            name="openai",
            base_url="https://api.openai.com/v1",
            api_key_env="OPENAI_API_KEY",
            supports_n=True,
            chat_max_tokens_field="max_completion_tokens",
        ),
        Provider(name="vllm", base_url="http://localhost:8000/v1", supports_n=True, local=True),
        Provider(name="sglang", base_url="http://localhost:30000/v1", supports_n=True, local=True),
        Provider(name="ollama", base_url="http://localhost:11434/v1", local=True),
        Provider(name="llamacpp", base_url="http://localhost:8080/v1", local=True),
        Provider(
            name="thinkfast",
            base_url=f"http://127.0.0.1:{THINKFAST_SERVE_PORT}/v1",
            api_key_env="THINKFAST_API_KEY",
            supports_n=True,
            local=True,
        ),
    )
}

_ALIASES = {"llama.cpp": "llamacpp", "llama-cpp": "llamacpp", "llama_cpp": "llamacpp"}


def get_provider(name: str) -> Provider:
    """The preset called `name` (case-insensitive); InvalidRequestError lists the presets."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return PROVIDERS[key]
    except KeyError:
        raise InvalidRequestError(
            f"unknown provider {name!r}; presets are: {', '.join(sorted(PROVIDERS))} "
            "(or pass base_url= for any other OpenAI-compatible server)"
        ) from None


def resolve_base_url(provider: Provider | None, base_url: str | None) -> str:
    """The API root to call: `base_url`, else the provider's, else THINKFAST_BASE_URL."""
    url = base_url or (provider.base_url if provider else None)
    url = url or os.environ.get("THINKFAST_BASE_URL")
    if not url:
        raise InvalidRequestError(
            "no server to talk to: pass base_url=..., provider= one of "
            "cerebras/groq/openai/vllm/sglang/ollama/llamacpp/thinkfast, "
            "or set THINKFAST_BASE_URL"
        )
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidRequestError(f"base_url must be an http(s) URL with a host, got {url!r}")
    url = url.rstrip("/")
    if parsed.path in ("", "/"):
        url += "/v1"  # every OpenAI-compatible server mounts its API under /v1
    return url


def resolve_api_key(provider: Provider | None, api_key: str | None) -> str | None:
    """The key to send: `api_key`, else the provider's variable, else THINKFAST_API_KEY.

    A hosted provider without any key is an error; a local server needs none.
    """
    if api_key:
        return api_key
    env = provider.api_key_env if provider else None
    key = (os.environ.get(env) if env else None) or os.environ.get("THINKFAST_API_KEY")
    if not key and provider and not provider.local:
        raise InvalidRequestError(
            f"no API key for {provider.name}: set {provider.api_key_env} "
            "(or THINKFAST_API_KEY), or pass api_key=..."
        )
    return key or None
