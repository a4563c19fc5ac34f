"""Fault specifications: what the mock should do wrong, per model or per request.

Faults come from three places (CLI/YAML at start, the runtime control API, and
``x-mock-*`` request headers); they share one parser so every source accepts
the same fields and rejects bad values with the same clear message.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

Malformed = Literal["json", "sse"]

HEADER_PREFIX = "x-mock-"


class FaultSpecError(ValueError):
    """A fault field had a value the mock cannot honour."""


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Every field optional: ``None`` means "not set here" so specs can be layered."""

    status: int | None = None
    fail_rate: float | None = None
    latency_ms: float | None = None
    latency_per_token_ms: float | None = None
    jitter_ms: float | None = None
    retry_after: str | None = None
    hang: bool | None = None
    cut_stream_after: int | None = None
    error_event_after: int | None = None  # an in-band error event (Anthropic ``event: error``) after N events
    stall_after: int | None = None  # stream N events, then keep the connection open and silent
    malformed: Malformed | None = None
    malformed_after: int | None = None  # where the malformed SSE event goes (default: after the first event)
    quota_left: float | None = None  # share of a (fake) 1000-request quota reported in rate-limit headers
    repeat_reply: int | None = None  # the answer's text N times over: a large answer (or stream) from a short prompt

    def over(self, base: "FaultSpec") -> "FaultSpec":
        """This spec layered on top of ``base`` (set fields here win)."""
        changes = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        return replace(base, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise FaultSpecError(f"{name}: expected a boolean, got {value!r}")


def _as_number(name: str, value: Any, *, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FaultSpecError(f"{name}: expected a number, got {value!r}") from None
    if not low <= number <= high:
        raise FaultSpecError(f"{name}: {number} is outside [{low}, {high}]")
    return number


def _parse_field(name: str, value: Any) -> Any:
    if name == "status":
        return int(_as_number(name, value, low=100, high=599))
    if name in ("fail_rate", "quota_left"):
        return _as_number(name, value, low=0.0, high=1.0)
    if name in ("latency_ms", "latency_per_token_ms", "jitter_ms"):
        return _as_number(name, value, low=0.0, high=3_600_000.0)
    if name in ("cut_stream_after", "error_event_after", "stall_after", "malformed_after"):
        return int(_as_number(name, value, low=0, high=1_000_000))
    if name == "repeat_reply":
        return int(_as_number(name, value, low=1, high=1_000_000))
    if name == "hang":
        return _as_bool(name, value)
    if name == "retry_after":
        return str(value)
    if name == "malformed":
        if value not in ("json", "sse"):
            raise FaultSpecError(f"malformed: expected 'json' or 'sse', got {value!r}")
        return value
    raise FaultSpecError(f"unknown fault field {name!r}")


_FIELD_NAMES = tuple(f.name for f in fields(FaultSpec))


def parse_faults(data: Mapping[str, Any]) -> FaultSpec:
    """Build a spec from a mapping (YAML, JSON control API); keys may use ``-`` or ``_``."""
    values: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        if key not in _FIELD_NAMES:
            raise FaultSpecError(f"unknown fault field {raw_key!r}; known: {', '.join(_FIELD_NAMES)}")
        if value is not None:
            values[key] = _parse_field(key, value)
    return FaultSpec(**values)


def faults_from_headers(headers: Mapping[str, str]) -> FaultSpec:
    """The ``x-mock-<field>`` request headers as a spec (``x-mock-fail-rate`` -> ``fail_rate``)."""
    picked = {
        key.lower()[len(HEADER_PREFIX) :]: value
        for key, value in headers.items()
        if key.lower().startswith(HEADER_PREFIX) and key.lower()[len(HEADER_PREFIX) :].replace("-", "_") in _FIELD_NAMES
    }
    return parse_faults(picked)
