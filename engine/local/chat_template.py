"""Chat templates: render a checkpoint's jinja2 `chat_template` the way transformers does.

Same environment as `transformers.utils.chat_template_utils`: a sandboxed jinja2
environment with trim_blocks and lstrip_blocks, the loop-controls extension, a `tojson`
filter that keeps non-ASCII text, and the globals `raise_exception` and `strftime_now`.
The template sees `messages`, `add_generation_prompt` and the special tokens
(`bos_token`, `eos_token`, ...) as variables.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from ..errors import InvalidRequestError

__all__ = ["render_chat", "TemplateError"]


class TemplateError(InvalidRequestError):
    """The chat template rejected the messages (its `raise_exception`) or does not compile."""


def _raise_exception(message: str) -> None:
    raise TemplateError(f"chat template refused the messages: {message}")


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: Any = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@lru_cache(maxsize=32)
def _compile(template: str) -> Any:
    from jinja2 import TemplateSyntaxError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    try:
        return env.from_string(template)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"chat template does not compile (line {exc.lineno}): {exc}") from exc


def render_chat(
    template: str,
    messages: list[dict[str, Any]],
    *,
    add_generation_prompt: bool = True,
    **special_tokens: str,
) -> str:
    """The prompt text for `messages` (dicts with role and content)."""
    return _compile(template).render(
        messages=messages, add_generation_prompt=add_generation_prompt, **special_tokens
    )
