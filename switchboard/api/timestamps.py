"""RFC 3339 timestamps as both sides write them into Kubernetes objects (always UTC, ``Z``)."""

from datetime import UTC, datetime


def rfc3339(now: datetime) -> str:
    """Whole seconds: conditions, Events, ``updatedAt`` of replica status entries."""
    return _utc(now).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(now: datetime) -> str:
    """Microseconds, as ``MicroTime`` fields (a Lease's acquire and renew times) want."""
    return _utc(now).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utc(when: datetime) -> datetime:
    """A naive time is taken as UTC (as the API server's are), never as the machine's local time."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_time(value: str) -> datetime | None:
    """The time a status entry carries; None when it is not a timestamp (a peer wrote garbage)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
