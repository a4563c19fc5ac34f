"""Anthropic's answer vocabulary, whole or streamed: finish reasons, error types, usage."""

from typing import Any

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.adapters.wire import as_int

FAMILY = "anthropic"


FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def read_usage(usage: dict[str, Any], output_tokens: int | None = None) -> Usage:
    """Anthropic's usage, normalised: its ``input_tokens`` excludes cache reads and writes, ours includes them."""
    read, write = as_int(usage.get("cache_read_input_tokens")), as_int(usage.get("cache_creation_input_tokens"))
    output = as_int(usage.get("output_tokens")) if output_tokens is None else output_tokens
    return Usage(as_int(usage.get("input_tokens")) + read + write, output, cached_tokens=read, cache_write_tokens=write)
