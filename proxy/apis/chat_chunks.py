"""What the encoders of other client APIs read of one chat completion chunk object (pure).

Inbound encoders sit on top of the chat translators, so every upstream keeps a
single codec; they read the chunk objects the translator already parsed or built.
"""

from dataclasses import dataclass
from typing import Any, NamedTuple

from switchboard.proxy.adapters.wire import as_object


@dataclass(frozen=True, slots=True)
class ToolDelta:
    index: int
    id: str | None
    name: str | None
    arguments: str


class ChunkView(NamedTuple):
    """What an encoder needs of one chat chunk (a tuple: one is built per streamed chunk)."""

    id: str | None
    created: int | None
    text: str
    tools: tuple[ToolDelta, ...]
    finish_reason: str | None


def _tools(delta: dict[str, Any]) -> tuple[ToolDelta, ...]:
    calls = delta.get("tool_calls")
    if not calls:
        return ()
    out: list[ToolDelta] = []
    for position, call in enumerate(calls if isinstance(calls, list) else ()):
        if not isinstance(call, dict):
            continue
        function = as_object(call.get("function"))
        index = call.get("index")
        out.append(
            ToolDelta(
                index if isinstance(index, int) else position,
                call.get("id") if isinstance(call.get("id"), str) else None,
                function.get("name") if isinstance(function.get("name"), str) else None,
                str(function.get("arguments") or ""),
            )
        )
    return tuple(out)


def chunk_view(payload: dict[str, Any]) -> ChunkView:
    """One chunk object (a choice-less usage chunk has no text, tools or finish reason)."""
    choices = payload.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    delta = as_object(choice.get("delta"))
    text = delta.get("content")
    created = payload.get("created")
    finish_reason = choice.get("finish_reason")
    return ChunkView(
        str(payload["id"]) if payload.get("id") is not None else None,
        created if isinstance(created, int) else None,
        text if isinstance(text, str) else "",
        _tools(delta),
        finish_reason if isinstance(finish_reason, str) else None,
    )
