"""What the encoders of other client APIs read of one chat completion chunk object (pure).

Inbound encoders sit on top of the chat translators, so every upstream keeps a
single codec; they read the chunk objects the translator already parsed or built.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, NamedTuple

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.adapters.chat_stream import ChatChunkStream
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
    calls = delta["tool_calls"]
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
    """One chunk object (a choice-less usage chunk has no text, tools or finish reason).

    It runs for every chunk that is not a retexted one, so the delta is checked inline, the tool calls are read
    only when there are any, and the view is built by ``tuple.__new__`` (as ``NamedTuple._make`` does: the
    generated ``__new__`` is a Python call)."""
    choices = payload.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        delta = {}
    text = delta.get("content")
    created = payload.get("created")
    finish_reason = choice.get("finish_reason")
    chunk_id = payload.get("id")
    view = (
        None if chunk_id is None else str(chunk_id),
        created if isinstance(created, int) else None,
        text if isinstance(text, str) else "",
        _tools(delta) if delta.get("tool_calls") else (),
        finish_reason if isinstance(finish_reason, str) else None,
    )
    return tuple.__new__(ChunkView, view)


_NO_VIEW = ChunkView(None, None, "", (), None)


class ChunkEncoder(ABC):
    """Another client API's events, encoded from the views of the chat chunks of ``inner``.

    A read that ``inner`` knows as an earlier chunk with another text (``retexted``) is encoded from
    that chunk's view, worked out once per stream, with the new text: no parse and no view per token
    (and for the usual chunk, text only, just its text's events).
    """

    def __init__(self, inner: ChatChunkStream) -> None:
        self._inner = inner
        self._source: dict[str, Any] | None = None
        self._source_view = _NO_VIEW
        self._last: tuple[dict[str, Any] | None, ChunkView] = (None, _NO_VIEW)
        """The last chunk encoded and its view: usually the source of the reads after it (one view less)."""
        self._text_only = False
        """The source's view has nothing but text: a retexted chunk is its text's events alone."""

    @property
    def usage(self) -> Usage | None:
        return self._inner.usage

    def feed(self, chunk: bytes) -> list[bytes]:
        same = self._inner.retexted(chunk)
        if same is None:
            return self._encode(self._inner.feed_chunks(chunk))
        source, text = same
        if source is not self._source:
            last, view = self._last
            self._source, view = source, view if source is last else chunk_view(source)
            self._source_view, self._text_only = view, not view.tools and view.finish_reason is None
        if self._text_only:  # (the source, an earlier chunk, started the stream)
            return self._encode_text(text) if text else []
        view = self._source_view
        return self._encode_view(ChunkView(view.id, view.created, text, view.tools, view.finish_reason))

    def _encode(self, chunks: list[dict[str, Any]]) -> list[bytes]:
        out: list[bytes] = []
        for chunk in chunks:
            view = chunk_view(chunk)
            out += self._encode_view(view)
            self._last = chunk, view
        return out

    @abstractmethod
    def _encode_view(self, view: ChunkView) -> list[bytes]:
        """The events of one chunk."""

    @abstractmethod
    def _encode_text(self, text: str) -> list[bytes]:
        """The events of a chunk with ``text`` (not empty) and nothing else, after the first chunk."""
