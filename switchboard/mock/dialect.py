"""What each upstream API family must provide to the shared request pipeline."""

from typing import Any, Protocol

from aiohttp import web

from switchboard.mock.conversation import Reply, Turn


class Dialect(Protocol):
    """One wire format: auth, error bodies, request parsing, response rendering."""

    name: str

    def api_key(self, request: web.Request) -> str | None:
        """The key the client presented, in this API's own header."""
        ...

    def header_problem(self, request: web.Request) -> str | None:
        """A required header that is missing or wrong (e.g. ``anthropic-version``)."""
        ...

    def error_body(self, status: int, message: str) -> dict[str, Any]: ...

    def parse_chat(self, body: Any, *, path_model: str | None, stream_route: bool) -> Turn:
        """Raise ``BadRequest`` with a specific message for an invalid body."""
        ...

    def chat_body(self, turn: Turn, reply: Reply) -> dict[str, Any]: ...

    def chat_events(self, turn: Turn, reply: Reply) -> list[bytes]:
        """The complete stream as SSE events, in order, terminator included."""
        ...


def sse(data: Any, *, event: str | None = None, newline: str = "\n") -> bytes:
    """One SSE event carrying JSON (or a literal string such as ``[DONE]``)."""
    import orjson

    payload = data if isinstance(data, str) else orjson.dumps(data).decode()
    head = f"event: {event}{newline}" if event else ""
    return f"{head}data: {payload}{newline}{newline}".encode()
