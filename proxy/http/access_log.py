"""The access log, off the event loop: one line per API request, written by a thread.

The request path only appends one small tuple to a deque (the line's fields, when the request ended, its
request id and span): no formatting, no I/O, no thread woken. While requests end, a writer thread wakes
every ``interval_s`` and writes everything queued; after an interval with none it sleeps until the first
line of the next one wakes it (one ``SimpleQueue.put`` per quiet spell), so an idle proxy spends nothing on it.
When the lines go only to the program's own handlers (``configure_logging``:
text or JSON lines on stderr), it makes each line exactly as those handlers' formatters would and writes a
batch in one write; for anything else (handlers of an embedding program, a test's log capture) it hands
each line to the ``switchboard.proxy.access`` logger as a record, so the line reads and is routed exactly
as if it had been logged in place (level, format, handlers all as configured). Either way the timestamp
is the request's, and the line carries the request's ids. Waking the thread per line instead (a
``queue.Queue``) costs more than it saves: every ``put`` hands the GIL over. Lines are never dropped: the
deque is unbounded and stopping drains it.
"""

import logging
import queue
import threading
import time
from collections import deque
from typing import Any, NamedTuple

from aiohttp import web
from opentelemetry.trace import INVALID_SPAN, SpanContext, format_span_id, format_trace_id

from switchboard.logformat import Made, line_handlers
from switchboard.proxy.auth import Client
from switchboard.proxy.cost import format_cost
from switchboard.proxy.http.app_keys import RequestState

LOGGER_NAME = "switchboard.proxy.access"
_FORMAT = "%s %s %d api=%s profile=%s provider=%s client=%s client_namespace=%s duration_s=%.3f cost_usd=%s%s"
_NO_CLIENT = "client=- client_namespace=-"
_BATCH = 1000
"""Lines per write at most (a burst is written in several)."""

Fields = tuple[
    float, str, str, int, str, str, str, Client | None, float, float | None, str, str, str | None, SpanContext | None
]
"""An ``AccessLine``'s fields, as the request path queues them: a plain tuple (making the named tuple,
even with ``tuple.__new__``, cost a third of queueing a line; the writer reads both alike)."""


class AccessLine(NamedTuple):
    created: float
    """``time.time()`` when the request ended: the line's timestamp, not when the thread wrote it."""
    method: str
    path: str
    status: int
    api: str
    """The client API (chat, responses, messages, embeddings; "other" for the rest)."""
    profile: str
    provider: str
    client: Client | None
    """The client's key entry with client auth on (its name is logged, never its key); None without."""
    duration_s: float
    cost_usd: float | None
    spill: str
    upstream_endpoint: str
    request_id: str | None
    span: SpanContext | None
    """The request's span (tracing off: the client's), whose trace and span ids the line carries."""

    def args(self) -> tuple[object, ...]:
        """The arguments of ``_FORMAT`` (a record's ``args``)."""
        client = self.client
        cost = "-" if self.cost_usd is None else format_cost(self.cost_usd)
        endpoint = (
            "" if self.spill == self.upstream_endpoint == "-" else _endpoint_fields(self.upstream_endpoint, self.spill)
        )
        return (
            self.method,
            self.path,
            self.status,
            self.api,
            self.profile,
            self.provider,
            client.name if client else "-",
            (client.namespace or "-") if client else "-",
            self.duration_s,
            cost,
            endpoint,
        )

    def ids(self) -> dict[str, str]:
        """What every line of the request carries (``logformat.log_ids`` at the time it ended)."""
        return _ids(self.request_id, self.span)


def made(line: Fields) -> Made:
    """``(created, message, request_id, span)`` of ``line`` for a formatter's ``lines`` (the writer's own lines),
    the message made as ``_FORMAT % AccessLine(*line).args()`` in one step (a test holds the two equal). The
    fields are unpacked at once: a plain tuple's, or a named tuple's without a descriptor lookup per field."""
    created, method, path, status, api, profile, provider, client, duration, cost_usd, spill, endpoint, rid, span = line
    cost = "-" if cost_usd is None else format_cost(cost_usd)
    tail = "" if spill == endpoint == "-" else _endpoint_fields(endpoint, spill)
    who = f"client={client.name} client_namespace={client.namespace or '-'}" if client else _NO_CLIENT
    message = (
        f"{method} {path} {status} api={api} profile={profile} provider={provider} {who}"
        f" duration_s={duration:.3f} cost_usd={cost}{tail}"
    )
    return created, message, rid, span


def _endpoint_fields(endpoint: str, spill: str) -> str:
    """Service-backed providers only: which endpoint served, and which providers were spilled over and why."""
    return f" upstream_endpoint={endpoint} spill={spill}"


def _ids(request_id: str | None, span: SpanContext | None) -> dict[str, str]:
    ids = {} if request_id is None else {"request_id": request_id}
    if span is not None and span.is_valid:
        ids["trace_id"] = format_trace_id(span.trace_id)
        ids["span_id"] = format_span_id(span.span_id)
    return ids


class AccessLog:
    """Owns the writer thread: ``start`` with the app, ``stop`` (draining every queued line) at cleanup."""

    def __init__(self, logger: logging.Logger | None = None, *, interval_s: float = 0.05) -> None:
        self._logger = logger or logging.getLogger(LOGGER_NAME)
        self._interval_s = interval_s
        self._lines: deque[Fields] = deque()
        self._running = threading.Lock()  # held while the writer runs: ``stop`` releases it
        self._bell: queue.SimpleQueue[None] = queue.SimpleQueue()  # a token wakes the sleeping writer
        self._idle = False  # the writer sleeps until a token: the next line queued must ring ``_bell``
        self._thread: threading.Thread | None = None

    def add(self, request: web.Request, status: int, state: RequestState, duration_s: float) -> None:
        """The line of API request ``request``, which ended just now with ``status``, when INFO lines are on:
        queued like ``write``, as its plain ``Fields`` (this runs per request)."""
        if not self._logger.isEnabledFor(logging.INFO):
            return
        fields: Fields = (
            time.time(),
            request.method,
            request.path,
            status,
            state.api,
            state.profile,
            state.provider,
            state.client,
            duration_s,
            state.cost_usd,
            state.spill,
            state.upstream_endpoint,
            state.request_id,
            None if state.span is INVALID_SPAN else state.span.get_span_context(),  # tracing off: usually none
        )
        self.write(fields)

    def write(self, line: Fields) -> None:
        """Queue ``line`` (no I/O, no formatting; the thread is woken only after a quiet spell); written in place
        when no writer runs."""
        if self._thread is None:
            self._write([line])
            return
        self._lines.append(line)
        if self._idle:  # appended first: the writer checks for lines after saying it sleeps
            self._idle = False  # the first line after a quiet spell wakes it; the next ones need not
            self._bell.put(None)

    def start(self) -> None:
        if self._thread is None:
            self._running = threading.Lock()
            self._running.acquire()
            self._bell = queue.SimpleQueue()
            self._idle = False
            self._thread = threading.Thread(target=self._run, name="switchboard-access-log", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._running.release()
            self._bell.put(None)  # wakes a sleeping writer, which then sees ``_running`` free
            thread.join()
            self._drain()  # anything appended while the thread was finishing

    def _run(self) -> None:
        """Every ``interval_s`` a batch, while lines come; asleep (no wake-ups) after an interval with none.

        Only an interval without lines puts it to sleep, not a batch that emptied the queue (every batch
        does, as the loop cannot append while it runs): requests that keep ending never ring the bell.
        Both waits are C-level (a lock's timed acquire, a ``SimpleQueue.get``): ``threading.Event`` waits and
        sets through a Python ``Condition`` that allocates a lock per wait, at every batch and quiet spell.
        A token rung while the writer found lines anyway stays queued: it costs one empty batch later, no more.
        """
        lines, bell, running, interval_s = self._lines, self._bell, self._running, self._interval_s
        while not running.acquire(True, interval_s):  # lines queued over an interval go as one batch
            if lines:
                self._drain()
                continue
            self._idle = True
            if not lines:  # checked after saying it sleeps: a line queued from now on rings ``bell``
                bell.get()
            self._idle = False
        self._drain()

    def _drain(self) -> None:
        lines = self._lines
        while lines:
            # popleft, never a swap of the deque: the loop may be appending at this moment.
            self._write([lines.popleft() for _ in range(min(len(lines), _BATCH))])

    def _write(self, lines: list[Fields]) -> None:
        handlers = line_handlers(self._logger)
        if handlers is None:
            template = self._template()
            for line in lines:
                self._logger.handle(_record(AccessLine(*line), template))
            return
        name = self._logger.name
        written = list(map(made, lines))
        for handler, formatter in handlers:
            handler.write_lines(formatter.lines("INFO", name, written))

    def _template(self) -> dict[str, Any]:
        """The fields of a record made now, in this thread: every line written from here shares them.

        ``LogRecord``'s constructor (splitting the source path, looking up the thread and
        the process) was a third of a line's cost; copying its fields is a dict update.
        """
        return vars(self._logger.makeRecord(self._logger.name, logging.INFO, __file__, 0, _FORMAT, (), None))


def _record(line: AccessLine, template: dict[str, Any]) -> logging.LogRecord:
    """``line`` as the record ``makeRecord`` would build for it in this thread, with its own time and ids."""
    record = logging.LogRecord.__new__(logging.LogRecord)
    record.__dict__.update(template)
    record.args = line.args()
    record.relativeCreated = template["relativeCreated"] + (line.created - template["created"]) * 1000
    record.created = line.created
    record.msecs = int((line.created - int(line.created)) * 1000) + 0.0
    record.__dict__.update(line.ids())
    return record
