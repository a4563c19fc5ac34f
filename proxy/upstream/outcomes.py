"""Pure mapping from how an attempt ended to who failed, the router's outcome and the client's error."""

import asyncio

import aiohttp

from switchboard.proxy.adapters.base import AdapterRequestError, UpstreamError, Usage
from switchboard.proxy.errors import ApiError
from switchboard.proxy.routing.types import Attempt, Outcome, OutcomeKind, Plan

UPSTREAM_FAILURES = (UpstreamError, aiohttp.ClientError, asyncio.TimeoutError, TimeoutError)
"""What an upstream exchange raises when the upstream failed (never when the client did)."""

# The upstream refused the proxy's own credentials or permissions: the provider
# is unusable for everyone, so it counts as a provider failure and fails over.
_PROVIDER_SIDE_4XX = frozenset({401, 403})


class ClientGone(Exception):
    """The client cannot take the answer any more: it disconnected, or writing to it failed.

    Raised by the client-side writer only, so an error on the client's socket can
    never be mistaken for an upstream failure (both are connection errors).
    """


def kind_of(error: BaseException) -> OutcomeKind:
    """The outcome kind of any exception that ended an attempt."""
    if isinstance(error, ClientGone):
        return "client_gone"
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    if isinstance(error, AdapterRequestError):
        return "unsupported"
    if isinstance(error, UpstreamError):
        if error.status == 429:
            return "rate_limited"
        # 0: no valid answer; 1xx/3xx: not an answer of the API at all (e.g. a redirect).
        if error.status < 400 or error.status >= 500 or error.status in _PROVIDER_SIDE_4XX:
            return "server_error"
        return "client_error"
    if isinstance(error, asyncio.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(error, aiohttp.ClientError):
        return "connection_error"
    return "internal_error"


def failure_outcome(error: BaseException, latency_s: float, usage: Usage | None = None) -> Outcome:
    status = error.status if isinstance(error, UpstreamError) and error.status else None
    retry_after = error.retry_after if isinstance(error, UpstreamError) else None
    usage = usage or Usage()
    return Outcome(
        kind=kind_of(error),
        latency_s=latency_s,
        status=status,
        retry_after_s=retry_after,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
    )


def success_outcome(latency_s: float, usage: Usage | None, headroom: float | None = None) -> Outcome:
    """An answered attempt's outcome (one per served request: built with ``tuple.__new__``, every field given,
    without the NamedTuple's ``__new__``, a Python function)."""
    if usage is None:
        return tuple.__new__(Outcome, ("success", latency_s, 200, 0, 0, None, headroom))
    return tuple.__new__(
        Outcome, ("success", latency_s, 200, usage.prompt_tokens, usage.completion_tokens, None, headroom)
    )


def describe(error: BaseException) -> str:
    """A client-safe one-line description (never headers, never keys)."""
    if isinstance(error, UpstreamError):
        return f"upstream answered {error.status}: {error.message}" if error.status else error.message
    if isinstance(error, asyncio.TimeoutError | TimeoutError):
        return "upstream timed out"
    if isinstance(error, aiohttp.ClientError):
        return f"cannot reach upstream: {type(error).__name__}"
    return f"upstream failure: {type(error).__name__}"


def client_error_for(error: BaseException, provider: str) -> ApiError:
    """What the client gets when the last attempt failed with ``error``."""
    kind = kind_of(error)
    text = f"provider {provider!r}: {describe(error)}"
    if kind == "client_error" and isinstance(error, UpstreamError):
        status = error.status if error.status in (400, 404, 413) else 400
        return ApiError(status, error.message, code="upstream_rejected_request")
    if kind == "rate_limited":
        retry_after = error.retry_after if isinstance(error, UpstreamError) else None
        return ApiError(429, text, code="upstream_rate_limited", retry_after=retry_after or 1.0)
    if kind == "timeout":
        return ApiError(504, text, code="upstream_timeout")
    return ApiError(502, text, code="upstream_error")


def is_fallback(plan: Plan, attempt: Attempt, requested_model: str) -> bool:
    """True when the attempt serves a fallback model rather than the one asked for."""
    if attempt.key[1] == requested_model:  # the model's name
        return False
    overrides = {ref.model for ref in attempt.profile.providers if ref.name == attempt.provider.name}
    return attempt.model.name not in overrides or attempt.profile.key != plan.profile.key
