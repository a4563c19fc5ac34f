"""OpenAI-format errors: one exception type carries everything the client sees.

Every failure the proxy reports (bad input, routing, upstream) becomes an
``ApiError`` so the request lifecycle can render it as OpenAI's error body with the
right status; clients written for OpenAI then handle our errors unchanged.
"""

import math
from typing import Any

_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "internal_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class ApiError(Exception):
    """An error answer: HTTP status plus OpenAI's ``{"error": {...}}`` fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.error_type = error_type or _TYPES.get(status, "api_error")
        self.retry_after = retry_after
        self._headers = headers or {}

    def add_headers(self, headers: dict[str, str]) -> None:
        self._headers = {**self._headers, **headers}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.error_type, "code": self.code, "param": self.param}}

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return dict(self._headers)
        # Whole seconds, rounded up: rounding down would send clients back before the wait is over.
        return {**self._headers, "Retry-After": str(max(1, math.ceil(self.retry_after)))}


def invalid_param(param: str | None, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, code=code, param=param)


_ANTHROPIC_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def anthropic_error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error body; the ``anthropic`` SDK picks its exception class from the status."""
    default = "api_error" if status >= 500 else "invalid_request_error"
    return {"type": "error", "error": {"type": _ANTHROPIC_TYPES.get(status, default), "message": message}}
