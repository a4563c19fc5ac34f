"""Responses API event streams (pure, incremental).

``ResponsesEncoder`` turns any adapter's chat chunks into the Responses event
stream (``response.created`` ... ``response.completed``) with consecutive
``sequence_number``s, so the official SDK's ``responses.stream`` accumulates it
unchanged. ``NativeResponsesStream`` relays an OpenAI upstream's own Responses
stream, renaming the model and reading usage from the terminal event.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from switchboard.proxy.adapters.base import UpstreamProtocolError
from switchboard.proxy.adapters.chat_stream import ChatChunkStream
from switchboard.proxy.adapters.errors import stream_error
from switchboard.proxy.apis.chat_chunks import ChunkEncoder, ChunkView, ToolDelta
from switchboard.proxy.apis.native_stream import NativeStream, event_bytes
from switchboard.proxy.apis.responses_object import Envelope, function_call_item, message_item, read_usage, response_id

TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_EVENT = b'event: %b\ndata: {"type":"%b","sequence_number":%d%b}\n\n'
"""An event of ``kind``: ``_emit``'s bytes, formatted (its other fields given as the members orjson writes)."""
_PART = b'{"type":"output_text","text":%b,"annotations":[],"logprobs":[]}'
_MESSAGE_ITEM = b',"item":{"id":%b,"type":"message","status":"%b","role":"assistant","content":[%b]}'


def failure_events(
    sequence: int, response: dict[str, Any] | None, message: str, *, code: str = "upstream_stream_error"
) -> list[bytes]:
    """``response.failed`` (when the response is known) then an ``error`` event the SDKs raise on."""
    error = {"code": "server_error", "message": message}
    out: list[bytes] = []
    if response is not None:
        failed = {**response, "status": "failed", "error": error}
        out.append(event_bytes({"type": "response.failed", "sequence_number": sequence, "response": failed}))
        sequence += 1
    details = {"type": "upstream_error", "code": code, "message": message}
    payload = {"type": "error", "sequence_number": sequence, "code": code, "message": message}
    out.append(event_bytes({**payload, "param": None, "error": details}))
    return out


@dataclass(slots=True)
class _Call:
    output_index: int
    item_id: str
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class ResponsesEncoder(ChunkEncoder):
    """Chat chunks (from ``inner``, created with usage on) -> Responses events."""

    def __init__(self, inner: ChatChunkStream, envelope: Envelope, clock: Callable[[], float]) -> None:
        super().__init__(inner)
        self._envelope = envelope
        self._clock = clock
        self._sequence = 0
        self._rid: str | None = None
        self._created_at = 0
        self._echo_tail = b"}"
        """The request's fields, encoded once (at the first chunk) for every snapshot: ``Envelope.echo_tail``."""
        self._output: list[dict[str, Any] | None] = []
        self._message: tuple[int, str] | None = None
        self._item_fields = b""
        """The open message's ``item_id`` and ``output_index`` members (``_event``)."""
        self._delta_fields = b""
        """Its text delta's members, with ``%b`` for the text."""
        self._text: list[str] = []
        """The open message's text deltas."""
        self._message_closed = False
        self._calls: dict[int, _Call] = {}
        self._finish_reason: str | None = None
        self.output_seen = False
        """A text or arguments delta went out (opening the response or an item is no output)."""

    def _emit(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event_bytes(payload)

    def _event(self, kind: bytes, members: bytes) -> bytes:
        """The bytes ``_emit`` makes of a ``kind`` event whose other fields are ``members`` (``,"name":value``
        as orjson writes them): the events of every stream, formatted rather than built and serialised."""
        sequence, self._sequence = self._sequence, self._sequence + 1
        return _EVENT % (kind, kind, sequence, members)

    def _head(self, status: str) -> dict[str, Any]:
        assert self._rid is not None
        output = [item for item in self._output if item is not None]
        usage = self._inner.usage if status != "in_progress" else None
        return self._envelope.head(
            self._rid, self._created_at, status, output, usage, finish_reason=self._finish_reason
        )

    def _members(self, head: dict[str, Any]) -> bytes:
        """``,"response":`` and the snapshot of ``head``, its request fields encoded once per stream."""
        return b',"response":' + orjson.dumps(head)[:-1] + self._echo_tail

    def _encode_view(self, view: ChunkView) -> list[bytes]:
        out = self._start(view) if self._rid is None else []
        if view.text:
            out += self._encode_text(view.text)
        for tool in view.tools:
            out += self._tool_delta(tool)
        self._finish_reason = view.finish_reason or self._finish_reason
        return out

    def _start(self, view: ChunkView) -> list[bytes]:
        self._rid = response_id(view.id or "chat")
        self._created_at = view.created if view.created is not None else int(self._clock())
        self._echo_tail = self._envelope.echo_tail()
        snapshot = self._members(self._head("in_progress"))  # serialised once for both
        return [self._event(b"response.created", snapshot), self._event(b"response.in_progress", snapshot)]

    def _encode_text(self, text: str) -> list[bytes]:
        if self._message is not None:
            self.output_seen = True
            self._text.append(text)
            return [self._event(b"response.output_text.delta", self._delta_fields % orjson.dumps(text))]
        assert self._rid is not None
        index, item_id = len(self._output), "msg_" + self._rid.removeprefix("resp_")
        if self._message_closed:  # text again after a tool call: a new message, with an id of its own
            item_id += f"_{index}"
        self._message = (index, item_id)
        self._output.append(None)
        self._item_fields = b',"item_id":%b,"output_index":%d' % (orjson.dumps(item_id), index)
        self._delta_fields = self._item_fields + b',"content_index":0,"delta":%b,"logprobs":[]'
        opened = [
            self._event(
                b"response.output_item.added",
                b',"output_index":%d' % index + _MESSAGE_ITEM % (orjson.dumps(item_id), b"in_progress", b""),
            ),
            self._event(
                b"response.content_part.added", self._item_fields + b',"content_index":0,"part":' + _PART % b'""'
            ),
        ]
        return [*opened, *self._encode_text(text)]

    def _tool_delta(self, tool: ToolDelta) -> list[bytes]:
        out: list[bytes] = []
        call = self._calls.get(tool.index)
        if call is None:
            assert self._rid is not None
            out += self._close_message()
            index = len(self._output)
            item_id = f"fc_{self._rid.removeprefix('resp_')}_{tool.index}"
            call = self._calls[tool.index] = _Call(index, item_id, tool.id or f"call_{tool.index}", tool.name or "")
            self._output.append(None)
            item = function_call_item(item_id, call.call_id, call.name, "", "in_progress")
            out.append(self._emit("response.output_item.added", output_index=index, item=item))
        if tool.arguments:
            call.arguments.append(tool.arguments)
            self.output_seen = True
            out.append(
                self._emit(
                    "response.function_call_arguments.delta",
                    item_id=call.item_id,
                    output_index=call.output_index,
                    delta=tool.arguments,
                )
            )
        return out

    def _close_message(self) -> list[bytes]:
        if self._message is None:
            return []
        index, item_id = self._message
        self._message = None
        text = "".join(self._text)
        self._text = []
        self._message_closed = True
        self._output[index] = message_item(item_id, text)
        text_json = orjson.dumps(text)
        part = _PART % text_json
        return [
            self._event(
                b"response.output_text.done",
                self._item_fields + b',"content_index":0,"text":%b,"logprobs":[]' % text_json,
            ),
            self._event(b"response.content_part.done", self._item_fields + b',"content_index":0,"part":' + part),
            self._event(
                b"response.output_item.done",
                b',"output_index":%d' % index + _MESSAGE_ITEM % (orjson.dumps(item_id), b"completed", part),
            ),
        ]

    def _close_calls(self) -> list[bytes]:
        out: list[bytes] = []
        for call in sorted(self._calls.values(), key=lambda c: c.output_index):
            arguments = "".join(call.arguments)
            item = function_call_item(call.item_id, call.call_id, call.name, arguments)
            self._output[call.output_index] = item
            out.append(
                self._emit(
                    "response.function_call_arguments.done",
                    item_id=call.item_id,
                    output_index=call.output_index,
                    name=call.name,
                    arguments=arguments,
                )
            )
            out.append(self._emit("response.output_item.done", output_index=call.output_index, item=item))
        self._calls.clear()
        return out

    def finish(self) -> list[bytes]:
        out = self._encode(self._inner.finish_chunks())
        if self._rid is None:
            raise UpstreamProtocolError("upstream stream ended without any chunk")
        out += self._close_message() + self._close_calls()
        head = self._head("completed")
        kind = b"response.incomplete" if head["status"] == "incomplete" else b"response.completed"
        return [*out, self._event(kind, self._members(head))]

    def fail(self, message: str) -> list[bytes]:
        snapshot = self._envelope.response(self._head("in_progress")) if self._rid is not None else None
        return failure_events(self._sequence, snapshot, message)


class NativeResponsesStream(NativeStream):
    """An OpenAI upstream's Responses stream, passed through with the public model name."""

    family = "openai"
    last_event = "response.completed"

    def __init__(self, public_model: str) -> None:
        super().__init__(public_model)
        self._response: dict[str, Any] | None = None
        self._sequence = 0

    def observe(self, kind: str, payload: dict[str, Any]) -> bool:
        if kind == "error":
            raise stream_error("openai", payload.get("error") or payload)
        if isinstance(payload.get("sequence_number"), int):
            self._sequence = payload["sequence_number"] + 1
        self.done = kind in TERMINAL
        response = payload.get("response")
        if isinstance(response, dict):
            response["model"] = self.model
            self._response = response
            self.usage = read_usage(response.get("usage")) or self.usage
            return True
        return False

    def is_output(self, kind: str) -> bool:
        """Any delta or finished part, item or response is output; opening the response or an item is not."""
        return kind.endswith((".delta", ".done")) or kind in TERMINAL

    def fail(self, message: str) -> list[bytes]:
        return failure_events(self._sequence, self._response, message)
