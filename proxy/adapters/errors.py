"""Shared translation of upstream error answers: message extraction and Retry-After."""

import email.utils
import math
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from switchboard.proxy.adapters.base import UpstreamError

MAX_MESSAGE_CHARS = 500
MAX_RETRY_AFTER_S = 600.0
"""The longest cool-down an upstream can ask for: a lying ``Retry-After: 1e400``
must not take a provider out of rotation forever."""


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup that works for plain dicts and multidicts alike."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _clamp(seconds: float) -> float | None:
    """A finite wait in ``[0, MAX_RETRY_AFTER_S]``; None for nan and infinities."""
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S) if math.isfinite(seconds) else None


def _seconds(text: str, scale: float = 1.0) -> float | None:
    try:
        return _clamp(float(text) / scale)
    except ValueError:
        return None


def parse_retry_after(headers: Mapping[str, str], now: Callable[[], float]) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    millis = header(headers, "retry-after-ms")
    if millis is not None and (wait := _seconds(millis, 1000.0)) is not None:
        return wait
    value = header(headers, "retry-after")
    if value is None:
        return None
    if (wait := _seconds(value)) is not None:
        return wait
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return _clamp(when.timestamp() - now())


def _describe(error: Any) -> str | None:
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        message = error.get("message")
        kind = error.get("type") or error.get("status") or error.get("code")
        if isinstance(message, str):
            return f"{message} ({kind})" if isinstance(kind, str | int) and kind else message
    return None


def error_message(raw: bytes) -> str:
    """The human message of an error body in any of the supported formats, or the raw text."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        described = _describe(body.get("error")) or _describe(body)
        if described:
            return described[:MAX_MESSAGE_CHARS]
    text = raw.decode(errors="replace").strip()
    return text[:MAX_MESSAGE_CHARS] if text else "empty error body"


def upstream_error(
    family: str, status: int, raw: bytes, headers: Mapping[str, str], now: Callable[[], float]
) -> UpstreamError:
    return UpstreamError(
        status,
        f"{family} upstream returned HTTP {status}: {error_message(raw)}",
        retry_after=parse_retry_after(headers, now),
    )


def stream_error(family: str, error: Any, status: int = 502) -> UpstreamError:
    """An error event inside a stream (already 200 OK): a server-side failure unless told otherwise."""
    if isinstance(error, dict) and isinstance(error.get("code"), int) and 400 <= error["code"] <= 599:
        status = error["code"]
    return UpstreamError(status, f"{family} upstream sent an error in the stream: {_describe(error) or error!r}")
