"""Shared translation of upstream error answers: message extraction and Retry-After."""

import email.utils
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from switchboard.proxy.adapters.base import UpstreamError

MAX_MESSAGE_CHARS = 500


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup that works for plain dicts and multidicts alike."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def parse_retry_after(headers: Mapping[str, str], now: Callable[[], float]) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    millis = header(headers, "retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = header(headers, "retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


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


def stream_error(family: str, error: Any) -> UpstreamError:
    """An error event inside a stream (already 200 OK): a server-side failure."""
    status = 502
    if isinstance(error, dict) and isinstance(error.get("code"), int) and 400 <= error["code"] <= 599:
        status = error["code"]
    return UpstreamError(status, f"{family} upstream sent an error in the stream: {_describe(error) or error!r}")
