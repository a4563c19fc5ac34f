"""The API-neutral view of a chat request and the mock's deterministic reply.

Each dialect (OpenAI, Anthropic, Gemini) parses its body into a ``Turn``; the
reply is a pure function of the turn, so tests can predict content and usage:

* the last message is a tool result -> the text ``tool said: <result>``;
* tools are offered and not disabled -> a call to the forced (or first) tool
  with arguments ``{"query": <last user text>}``;
* otherwise -> the last user message echoed verbatim.

One token is one whitespace-separated word; ``max_tokens`` truncates the echo
and reports ``length``.

Billing details, by model name: a model whose name contains ``cache`` reports
its system prompt as read from the prompt cache (``cache-write``: as written to
it), and one containing ``reason`` spends ``REASONING_TOKENS`` thinking tokens
on top of the visible answer (counted in the completion, as upstreams do).
"""

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

Finish = Literal["stop", "length", "tool_calls"]

_PIECE = re.compile(r"\s*\S+\s*")


class BadRequest(ValueError):
    """The client's body is not valid for the dialect; answered with a 400."""


REASONING_TOKENS = 16


def count_tokens(text: str) -> int:
    return len(text.split())


def split_pieces(text: str) -> list[str]:
    """Split text into one piece per token; the pieces concatenate back to ``text``."""
    pieces = _PIECE.findall(text)
    return pieces if "".join(pieces) == text else [text]


@dataclass(frozen=True, slots=True)
class Turn:
    model: str
    last_user_text: str
    prompt_tokens: int
    tool_names: tuple[str, ...] = ()
    forced_tool: str | None = None
    tools_disabled: bool = False
    tool_result: str | None = None
    max_tokens: int | None = None
    stream: bool = False
    include_usage: bool = False
    system_tokens: int = 0  # of prompt_tokens: the system prompt (what a prompt cache would hold)


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return orjson.dumps(self.arguments).decode()


@dataclass(frozen=True, slots=True)
class Reply:
    pieces: tuple[str, ...]
    tool_call: ToolCall | None
    finish: Finish
    prompt_tokens: int
    completion_tokens: int  # reasoning included
    cached_tokens: int = 0  # of prompt_tokens: read from the cache
    cache_write_tokens: int = 0  # of prompt_tokens: written to the cache
    reasoning_tokens: int = 0  # of completion_tokens

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _tool_call(name: str, query: str) -> ToolCall:
    arguments = {"query": query}
    digest = hashlib.sha256(orjson.dumps([name, arguments])).hexdigest()[:24]
    return ToolCall(id=f"call_{digest}", name=name, arguments=arguments)


def reply_to(turn: Turn) -> Reply:
    """The deterministic answer to ``turn`` (see the module docstring)."""
    if turn.tool_result is None and turn.tool_names and not turn.tools_disabled:
        call = _tool_call(turn.forced_tool or turn.tool_names[0], turn.last_user_text)
        return _billed(turn, Reply((), call, "tool_calls", turn.prompt_tokens, count_tokens(call.arguments_json) or 1))
    text = f"tool said: {turn.tool_result}" if turn.tool_result is not None else turn.last_user_text
    pieces = split_pieces(text) if text else []
    finish: Finish = "stop"
    if turn.max_tokens is not None and len(pieces) > turn.max_tokens:
        pieces, finish = pieces[: turn.max_tokens], "length"
    return _billed(turn, Reply(tuple(pieces), None, finish, turn.prompt_tokens, len(pieces)))


def _billed(turn: Turn, reply: Reply) -> Reply:
    """Cache and reasoning details for the models that have them (see the module docstring)."""
    if "cache" not in turn.model and "reason" not in turn.model:
        return reply
    write = "cache-write" in turn.model
    cached = turn.system_tokens if "cache" in turn.model else 0
    reasoning = REASONING_TOKENS if "reason" in turn.model else 0
    return Reply(
        reply.pieces,
        reply.tool_call,
        reply.finish,
        reply.prompt_tokens,
        reply.completion_tokens + reasoning,
        cached_tokens=0 if write else cached,
        cache_write_tokens=cached if write else 0,
        reasoning_tokens=reasoning,
    )
