"""When a client stream commits to an attempt, for each API (pure).

Events are held back until the first one that carries output: before it, a
failure still fails over to another attempt as if nothing had been sent. Only
the preamble (chat's role chunk, ``response.created``/``in_progress``, an item
or content part being opened, ``message_start``, ``ping``) is held.
"""

from typing import Any

import orjson

_CHAT_OUTPUT_FIELDS = ("content", "tool_calls", "function_call", "refusal", "reasoning_content")
_RESPONSES_TERMINAL = (b"response.completed", b"response.incomplete", b"response.failed")
_MESSAGES_OUTPUT = frozenset({b"content_block_delta", b"content_block_stop", b"message_delta", b"message_stop"})


def chat_carries_output(event: bytes) -> bool:
    """Whether an OpenAI chat-completion chunk event carries output."""
    if not event.startswith(b"data: {"):
        return False
    try:
        payload: Any = orjson.loads(event[6:])
    except orjson.JSONDecodeError:
        return False
    choices = payload.get("choices") if isinstance(payload, dict) else None
    for choice in choices if isinstance(choices, list) else ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and any(delta.get(name) for name in _CHAT_OUTPUT_FIELDS):
            return True
    return False


def _event_name(event: bytes) -> bytes:
    """The ``event:`` name our Responses and Messages encoders put on every event's first line."""
    if not event.startswith(b"event: "):
        return b""
    end = event.find(b"\n")
    return event[7:end] if end != -1 else b""


def responses_carries_output(event: bytes) -> bool:
    """Any delta or finished part, item or response is output; opening the response or an item is not."""
    name = _event_name(event)
    return name.endswith((b".delta", b".done")) or name in _RESPONSES_TERMINAL


def messages_carries_output(event: bytes) -> bool:
    """Block deltas and stops and the message's end are output; message_start, a block start and ping are not."""
    return _event_name(event) in _MESSAGES_OUTPUT
