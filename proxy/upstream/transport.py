"""Upstream HTTP: one pooled aiohttp session per provider, per-attempt timeouts.

Sessions are keyed by everything that shapes the pool (provider, base URL,
concurrency limit) so a reload that leaves a provider unchanged keeps its warm
connections, and one that changes or drops it gets a fresh pool while the old
one drains.
"""

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import hdrs
from aiohttp.abc import AbstractResolver
from opentelemetry import context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from switchboard.api.provider import ProviderConfig, Timeouts
from switchboard.proxy.adapters.base import UpstreamProtocolError, UpstreamRequest

DEFAULT_POOL_SIZE = 256
MAX_UPSTREAM_BODY_BYTES = 128 * 1024 * 1024
"""A complete upstream answer larger than this is a 502, not a memory spike: the largest
real ones (2048 float embeddings of 3072 dimensions) stay well below it."""
_READ_CHUNK_BYTES = 64 * 1024
_TRACE_CONTEXT = TraceContextTextMapPropagator()


@dataclass(frozen=True, slots=True)
class PoolKey:
    provider: str
    base_url: str
    max_concurrency: int | None

    @classmethod
    def of(cls, provider: ProviderConfig) -> "PoolKey":
        return cls(provider.key, provider.effective_base_url, provider.limits.max_concurrency)


def open_session(key: PoolKey, resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """A session whose connector caps concurrent upstream connections at ``limits.maxConcurrency``;
    ``resolver`` (the egress policy's, in cluster mode) decides which addresses it may connect to.

    No cookie jar: one session serves every client of the provider, so a cookie an upstream set
    while answering one client must never ride along on another client's request."""
    connector = aiohttp.TCPConnector(
        limit=key.max_concurrency or DEFAULT_POOL_SIZE, limit_per_host=0, resolver=resolver
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=True,
        raise_for_status=False,
        timeout=aiohttp.ClientTimeout(total=None),
    )


def client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    """The connect limit of an attempt: its total, and the upstream's silences (the first byte, then
    between a body's or a stream's chunks), are its owner's (``OwnedAttempt``), on one timer.

    No ``sock_read``: aiohttp re-arms it, a timer, on every read. No rounding up to whole seconds.
    """
    return aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect_seconds, ceil_threshold=math.inf)


def send(
    session: aiohttp.ClientSession, request: UpstreamRequest, timeout: aiohttp.ClientTimeout
) -> "aiohttp.client._RequestContextManager":
    """Start the upstream call; use as ``async with send(...) as response``.

    Carries the current span's W3C ``traceparent``/``tracestate`` (the attempt's
    span while tracing, else the client's context as it came); never baggage,
    which may hold the client's own data and upstreams can be third parties.
    Nothing attached (tracing off, no ``traceparent`` from the client): nothing to
    inject, and the adapter's headers go as they are.
    """
    headers = request.headers
    if context.get_current():
        headers = dict(headers)
        _TRACE_CONTEXT.inject(headers)
    # Never follow a redirect: it would resend the prompt (and maybe the key) somewhere not configured.
    return session.request(
        request.method,
        request.url,
        headers=headers,
        data=request.body,
        timeout=timeout,
        allow_redirects=False,
    )


def read_upstream_body(response: aiohttp.ClientResponse, heard: Callable[[], None]) -> Awaitable[bytes]:
    """The whole (decompressed) body; ``UpstreamProtocolError`` once it passes ``MAX_UPSTREAM_BODY_BYTES``.

    A body that is not compressed and already complete (the usual answer, there with its headers)
    is read in one call: aiohttp stops reading the socket past a few hundred KiB buffered, so a
    complete one is far below the limit. Otherwise (still coming, chunked, or compressed and so of
    unknown size once inflated) it is read in chunks, each told to ``heard`` as it comes (no
    ``sock_read`` bounds these reads: the caller watches the silence), and counted as it grows; an
    announced length past the limit is refused before any is read. (Not itself a coroutine: the
    one-call case awaits aiohttp's read directly.)
    """
    encoded = hdrs.CONTENT_ENCODING in response.headers
    if not encoded and response.content.is_eof():
        return response.read()
    limit = MAX_UPSTREAM_BODY_BYTES
    declared = response.content_length
    if declared is not None and declared > limit:
        raise UpstreamProtocolError(f"upstream announced a {declared}-byte body; the limit is {limit} bytes")
    return _read_counted(response, limit, heard)


async def _read_counted(response: aiohttp.ClientResponse, limit: int, heard: Callable[[], None]) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(_READ_CHUNK_BYTES):
        heard()
        body += chunk
        if len(body) > limit:
            raise UpstreamProtocolError(f"upstream body exceeds the limit of {limit} bytes")
    return bytes(body)
