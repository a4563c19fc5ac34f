"""Every upstream's stream read as chat completion chunks: the objects, and the SSE events for chat clients.

Inbound APIs other than chat (Responses, Messages) encode their events from
the chunk objects themselves (``feed_chunks``), so a chunk is parsed once per
stream and never written as JSON only to be read back by the next layer.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.adapters.wire import DONE_EVENT, sse_event, stream_failure, usage_dict

_OUTPUT_FIELDS = ("content", "tool_calls", "function_call", "refusal", "reasoning_content")


def carries_output(chunk: Mapping[str, Any]) -> bool:
    """Whether a chat completion chunk carries output; a role-only or usage-only chunk does not."""
    choices = chunk.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and any(delta.get(name) for name in _OUTPUT_FIELDS):
            return True
    return False


class ChatChunkStream(ABC):
    """An upstream stream, fed its bytes as they arrive, as chat completion chunks."""

    output_seen = False
    """Set by ``feed`` (chat clients); the encoders of other APIs over ``feed_chunks`` keep their own."""

    @property
    @abstractmethod
    def usage(self) -> Usage | None:
        """The usage seen so far (None until the upstream reported any)."""

    @abstractmethod
    def feed_chunks(self, chunk: bytes) -> list[dict[str, Any]]:
        """Consume raw upstream bytes; the complete chunks they finish, as objects (usage included when asked)."""

    @abstractmethod
    def finish_chunks(self) -> list[dict[str, Any]]:
        """Upstream EOF: the closing chunks (the ``include_usage`` one) or ``UpstreamProtocolError`` if truncated."""

    def retexted(self, chunk: bytes) -> tuple[dict[str, Any], str] | None:
        """When ``chunk`` is one whole event that reads as an earlier chunk object (returned as ``feed_chunks``
        gave it) with another text as its first choice's delta content (returned too): both, found without
        reading the whole event, and ``chunk`` is consumed. None: feed it to ``feed_chunks`` (here, always)."""
        return None

    def feed(self, chunk: bytes) -> list[bytes]:
        """The chunks as ``data: ...`` events for a chat client."""
        chunks = self.feed_chunks(chunk)
        if not self.output_seen:
            self.output_seen = any(carries_output(payload) for payload in chunks)
        return [sse_event(payload) for payload in chunks]

    def finish(self) -> list[bytes]:
        return [*(sse_event(payload) for payload in self.finish_chunks()), DONE_EVENT]

    def fail(self, message: str) -> list[bytes]:
        return stream_failure(message)


def chunk_object(
    completion_id: str, created: int, model: str, delta: Mapping[str, Any], finish_reason: str | None = None
) -> dict[str, Any]:
    """One OpenAI ``chat.completion.chunk`` with a single choice."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish_reason}],
    }


def usage_chunk_object(completion_id: str, created: int, model: str, usage: Usage) -> dict[str, Any]:
    """The ``include_usage`` closing chunk: usage and no choices."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage_dict(usage),
    }
