"""The adapter contract. Adapters are pure: they build requests and translate
responses and stream bytes, and never do I/O (the transport is kept apart)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from switchboard.api.provider import ProviderConfig, ProviderModel

if TYPE_CHECKING:
    from switchboard.proxy.adapters.chat_stream import ChatChunkStream


@dataclass(slots=True)
class Target:
    """Where one attempt goes: a provider, the model to send, and its key.

    Built once per config for each provider model (``Snapshot.targets``, as a snapshot's ``Upstream``) and never
    changed; not ``frozen``, whose ``__init__`` costs two to four times as much."""

    provider: ProviderConfig
    model: ProviderModel
    api_key: str | None = field(default=None, repr=False)
    base_url: str = field(init=False, repr=False)
    """The provider's ``effective_base_url``, worked out once here: adapters build every request's URL on it,
    and the property costs about a microsecond per call (pydantic attributes are slow to read)."""
    upstream_model: str = field(init=False, repr=False)
    """The model's ``upstream`` name (what every request body or URL names), worked out once here too."""
    endpoints: dict[str, "Endpoint"] = field(init=False, repr=False, compare=False)
    """What an adapter works out for each upstream operation on this target (``Endpoint``), filled on first
    use and kept as long as the target (its config): the same for every attempt, so not worked out per attempt."""

    def __post_init__(self) -> None:
        self.base_url = self.provider.effective_base_url
        self.upstream_model = self.model.upstream
        self.endpoints = {}


Endpoint = tuple[str, Mapping[str, str], str | None]
"""One upstream operation on a target: its URL, its headers (shared by its requests: never changed) and the
model name its bodies carry (None: the URL names it)."""


@dataclass(slots=True)
class UpstreamRequest:
    """One upstream call as built by an adapter (per attempt, never changed; not ``frozen``: see ``Target``)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(slots=True)
class Usage:
    """Tokens of one answer, normalised across upstreams: the details are parts of the totals.

    Built per answer and never changed; not ``frozen``: see ``Target``."""

    prompt_tokens: int = 0  # every input token, cache reads and writes included
    completion_tokens: int = 0  # every output token, reasoning included
    cached_tokens: int = 0  # of prompt_tokens: read from the provider's prompt cache
    cache_write_tokens: int = 0  # of prompt_tokens: written to the prompt cache
    reasoning_tokens: int = 0  # of completion_tokens: thinking the client does not see

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


Decoded = tuple[dict[str, Any], bytes | None, Usage]
"""A complete answer for the client: its JSON object (what traces and translations read), the bytes the
client gets, and its usage. The bytes are None when they are to be encoded from the object (an answer the
proxy built): encoded once, by whoever sends it, never by a translation that changes the object anyway."""


class AdapterRequestError(ValueError):
    """The client's OpenAI-format body cannot be expressed for this upstream.

    The proxy answers it with a 400 and does not try another provider for it.
    """


class UpstreamError(Exception):
    """The upstream answered with an error (or something that is not its API).

    ``status`` is the upstream HTTP status (0 when there was no valid answer);
    the proxy maps it to the client status and decides about retries.
    """

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class UpstreamProtocolError(UpstreamError):
    """Malformed JSON or SSE, or a stream that ended before it was complete."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)


class StreamTranslator(Protocol):
    """Turns upstream stream bytes into OpenAI SSE event bytes, incrementally."""

    @property
    def usage(self) -> Usage | None: ...

    @property
    def output_seen(self) -> bool:
        """Whether an event ``feed`` returned carries output (content, a tool call...): sending it commits the stream.

        Set by the translator as it builds or reads the event, so no event is parsed again to decide the commit.
        """
        ...

    def feed(self, chunk: bytes) -> list[bytes]:
        """Consume raw upstream bytes; return complete ``data: ...\\n\\n`` events for the client."""
        ...

    def finish(self) -> list[bytes]:
        """Upstream EOF: return the closing events (``data: [DONE]``) or raise UpstreamProtocolError."""
        ...

    def fail(self, message: str) -> list[bytes]:
        """The events that tell the client, in its own API's words, that the stream broke after it began."""
        ...


class Adapter(Protocol):
    """One upstream API family. Bodies in and out are OpenAI-format dicts."""

    supports_embeddings: bool

    def chat_request(self, target: Target, body: Mapping[str, Any], *, stream: bool) -> UpstreamRequest: ...

    def chat_answer(self, target: Target, public_model: str, raw: bytes) -> Decoded:
        """A complete chat answer for a chat client, renamed to ``public_model``."""
        ...

    def chat_stream(self, target: Target, public_model: str, *, include_usage: bool) -> "ChatChunkStream": ...

    def embeddings_request(self, target: Target, body: Mapping[str, Any]) -> UpstreamRequest: ...

    def embeddings_response(self, target: Target, public_model: str, raw: bytes) -> Decoded: ...

    def error(self, status: int, raw: bytes, headers: Mapping[str, str]) -> UpstreamError:
        """Translate a non-2xx upstream answer (parses Retry-After too)."""
        ...
