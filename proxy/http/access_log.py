"""The access log, off the event loop: one line per API request, written by a thread.

Formatting a log record and writing it (a ``write`` and a ``flush`` per line)
on the request path cost about a seventh of the proxy's CPU under load. Here
the request path only appends a small record of the request to a deque; a
writer thread wakes every ``interval_s``, takes everything queued, turns each
into a ``switchboard.proxy.access`` record and hands it to the configured
handlers, so the line reads and is routed exactly as if it had been logged in
place (level, format, handlers all as configured; the timestamp is the
request's). Waking the thread per line instead (a ``queue.Queue``) costs more
than it saves: every ``put`` hands the GIL over. Lines are never dropped:
the deque is unbounded and stopping drains it.
"""

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from switchboard.proxy.cost import format_cost

LOGGER_NAME = "switchboard.proxy.access"
_FORMAT = "%s %s %d api=%s profile=%s provider=%s client=%s client_namespace=%s duration_s=%.3f cost_usd=%s%s"


@dataclass(frozen=True, slots=True)
class AccessLine:
    method: str
    path: str
    status: int
    api: str
    """The client API (chat, responses, messages, embeddings; "-" for the rest)."""
    profile: str
    provider: str
    client: str
    """The client's key entry name with client auth on, never its key; "-" without."""
    client_namespace: str
    """The namespace of a team's key ("-" for the keys file's and without client auth)."""
    duration_s: float
    cost_usd: float | None
    created: float
    """``time.time()`` when the request ended: the record's timestamp, not when the thread wrote it."""
    ids: dict[str, str]
    """The request's ``log_ids()`` (request, trace and span ids), taken along to the writer thread."""
    endpoint_fields: str = ""
    """Service-backed providers only: `` upstream_endpoint=... spill=...``."""

    def args(self) -> tuple[object, ...]:
        cost = "-" if self.cost_usd is None else format_cost(self.cost_usd)
        return (
            self.method,
            self.path,
            self.status,
            self.api,
            self.profile,
            self.provider,
            self.client,
            self.client_namespace,
            self.duration_s,
            cost,
            self.endpoint_fields,
        )


class AccessLog:
    """Owns the writer thread: ``start`` with the app, ``stop`` (draining every queued line) at cleanup."""

    def __init__(self, logger: logging.Logger | None = None, *, interval_s: float = 0.05) -> None:
        self._logger = logger or logging.getLogger(LOGGER_NAME)
        self._interval_s = interval_s
        self._lines: deque[AccessLine] = deque()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def enabled(self) -> bool:
        return self._logger.isEnabledFor(logging.INFO)

    def write(self, line: AccessLine) -> None:
        """Queue ``line`` (no I/O, no formatting, no thread woken); written in place when no writer runs."""
        if self._thread is None:
            self._emit(line)
        else:
            self._lines.append(line)

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="switchboard-access-log", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join()
            self._drain()  # anything appended while the thread was finishing

    def _run(self) -> None:
        while not self._stopping.wait(self._interval_s):
            self._drain()
        self._drain()

    def _drain(self) -> None:
        template: dict[str, Any] | None = None
        while self._lines:
            template = template or self._template()
            self._emit(self._lines.popleft(), template)

    def _template(self) -> dict[str, Any]:
        """The fields of a record made now, in this thread: every line written from here shares them.

        ``LogRecord``'s constructor (splitting the source path, looking up the thread and
        the process) was a third of a line's cost; copying its fields is a dict update.
        """
        return vars(self._logger.makeRecord(self._logger.name, logging.INFO, __file__, 0, _FORMAT, (), None))

    def _emit(self, line: AccessLine, template: dict[str, Any] | None = None) -> None:
        """Hand ``line`` to the handlers as the record ``makeRecord`` would build in this thread."""
        fields = template or self._template()
        record = logging.LogRecord.__new__(logging.LogRecord)
        record.__dict__.update(fields)
        record.args = line.args()
        record.relativeCreated = fields["relativeCreated"] + (line.created - fields["created"]) * 1000
        record.created = line.created
        record.msecs = (line.created - int(line.created)) * 1000
        record.__dict__.update(line.ids)
        self._logger.handle(record)
