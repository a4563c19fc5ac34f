"""Log output of the Switchboard programs: text (the default) or JSON lines.

``--log-format json`` writes one JSON object per line, the shape log shippers
(Fluent Bit, Vector, Loki's promtail, the OpenTelemetry collector's filelog
receiver) parse without a regex. Every line written while a request is being
served carries that request's ``request_id`` and, when it is part of a trace,
the ``trace_id`` and ``span_id`` of the span that was current, so a log line
leads to its trace and back.

A hand-written formatter rather than python-json-logger: the record-to-dict
step is ten lines, and orjson (already pinned) does the encoding.
"""

import logging
import random
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson
from opentelemetry import trace
from opentelemetry.trace import SpanContext

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

Made = tuple[float, str, str | None, SpanContext | None]
"""A line made outside ``logging``: when it was logged (``time.time()``), its message, and what ``log_ids`` would
have found then: the request's id and span (the ids a formatter writes of it, no dict per line)."""
_MILLISECONDS = tuple(f"{n:03d}" for n in range(1001))
"""``f"{n:03d}"`` by lookup, for a line's milliseconds (1000 when a fraction just under a second rounds up)."""

_REQUEST_ID: ContextVar[str | None] = ContextVar("switchboard_request_id", default=None)
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged as a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def request_id_for(client_value: str | None) -> str:
    """The client's ``X-Request-Id`` when it is a plain token (no spaces, quotes or newlines), else a new one.

    A new id is 128 random bits in hex, the shape of ``uuid4().hex``, from ``random`` rather
    than ``os.urandom``: an id must be unique, not secret, and the system call showed
    at 2 % of the proxy's CPU per request (``random`` is reseeded in forked workers).
    ``bytes.hex`` of the 16 bytes is the same text as formatting the number with ``032x``, for a third of its cost.
    """
    if client_value and _CLIENT_REQUEST_ID.fullmatch(client_value):
        return client_value
    return random.getrandbits(128).to_bytes(16).hex()


enter_request = _REQUEST_ID.set
"""``enter_request(request_id)``: from here on (in this task) every log line carries ``request_id``, until
``leave_request(token)``. The request's lifecycle owner pairs the two itself (no generator-based context manager
per request); the context variable's own methods, so that each is a C call, no Python frame, per request."""
leave_request = _REQUEST_ID.reset


@contextmanager
def request_scope(request_id: str) -> Iterator[None]:
    """Every log line written inside (in this task) carries ``request_id``."""
    token = enter_request(request_id)
    try:
        yield
    finally:
        leave_request(token)


def log_ids() -> dict[str, str]:
    """The current request id and span (trace and span ids): what each line of a request carries.

    Code that logs a request's line later from another thread (the access log)
    takes them along as the record's ``extra``.
    """
    ids: dict[str, str] = {}
    request_id = _REQUEST_ID.get()
    if request_id is not None:
        ids["request_id"] = request_id
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        ids["trace_id"] = trace.format_trace_id(span.trace_id)
        ids["span_id"] = trace.format_span_id(span.span_id)
    return ids


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request and trace ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(log_ids())
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()

    def lines(self, level: str, logger: str, made: Iterable[Made]) -> list[str]:
        """What ``format`` writes, outside any request, for each record ``(created, message, request_id, span)``
        whose only extras are those ids; the time's date and second made once a second (``_iso_time`` per line
        was half a line's cost)."""
        written = []
        second, date_time = -1, ""
        for created, message, request_id, span in made:
            whole = int(created)
            microseconds = round((created - whole) * 1e6)  # as ``datetime.fromtimestamp`` rounds: half to even
            if microseconds == 1_000_000:
                whole, microseconds = whole + 1, 0
            if whole != second:
                second, date_time = whole, datetime.fromtimestamp(whole, UTC).isoformat(timespec="seconds")[:-6]
            entry = {
                "time": f"{date_time}.{_MILLISECONDS[microseconds // 1000]}+00:00",
                "level": level,
                "logger": logger,
                "message": message,
            }
            if request_id is not None:
                entry["request_id"] = request_id
            if span is not None and span.is_valid:
                entry["trace_id"] = trace.format_trace_id(span.trace_id)
                entry["span_id"] = trace.format_span_id(span.span_id)
            written.append(orjson.dumps(entry).decode())
        return written


def _iso_time(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


class RequestIdFilter(logging.Filter):
    """Puts the current request's ids on each record as attributes (``record.request_id``, ...).

    Records logged for a request from another thread (the access log's writer)
    already carry the ids they took along; those are kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in log_ids().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT``, plus ``request_id=...`` at the end of every line written for a request.

    The date and time part of a second is made once (``strftime`` per line was a good part of a line's cost).
    """

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second: tuple[int, str] = (-1, "")  # one tuple: threads read and replace it whole

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} request_id={request_id}" if request_id else line

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt:
            return super().formatTime(record, datefmt)
        return f"{self._date_time(record.created)},{int(record.msecs):03d}"

    def lines(self, level: str, logger: str, made: Iterable[Made]) -> list[str]:
        """What ``format`` writes, outside any request, for each record ``(created, message, request_id, span)``
        whose only extras are those ids: one call per batch, the second's date and time looked up in the loop."""
        head = f" {level} {logger}: "
        second, date_time = self._second
        written = []
        for created, message, request_id, _ in made:
            whole = int(created)
            if second != whole:
                second, date_time = whole, self._date_time(created)
            msecs = _MILLISECONDS[int((created - whole) * 1000)]  # ``logging``'s milliseconds, as ``:03d`` writes them
            if request_id:
                written.append(f"{date_time},{msecs}{head}{message} request_id={request_id}")
            else:
                written.append(f"{date_time},{msecs}{head}{message}")
        return written

    def _date_time(self, created: float) -> str:
        second, text = self._second
        if second != int(created):
            second, text = int(created), time.strftime(self.default_time_format, self.converter(created))
            self._second = (second, text)
        return text


class LineHandler(logging.StreamHandler[TextIO]):
    """``log_handler``'s handler: a ``StreamHandler`` that also writes a batch of made lines in one write."""

    def write_lines(self, lines: Sequence[str]) -> None:
        """``lines`` (each without its terminator) in one write and one flush, under the handler's lock taken once
        (``acquire`` and ``flush`` would take it through two more Python calls each)."""
        terminator = self.terminator
        text = terminator.join(lines) + terminator
        lock = self.lock
        assert lock is not None  # ``Handler.__init__`` made it
        with lock:
            try:
                self.stream.write(text)
                self.stream.flush()
            except Exception:
                self.handleError(logging.makeLogRecord({"msg": text}))


def line_handlers(logger: logging.Logger) -> list[tuple[LineHandler, TextFormatter | JsonFormatter]] | None:
    """Where an INFO line of ``logger`` goes, when that is only ``log_handler``'s own handlers, formatters and
    filters (what ``configure_logging`` sets up): then a line can be made and written without a ``LogRecord``,
    exactly as these handlers would write it. None for anything else (other handlers, filters, no handler)."""
    if logger.filters or logger.disabled:
        return None
    found: list[tuple[LineHandler, TextFormatter | JsonFormatter]] = []
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:  # run per batch of lines: loops, no generator
            formatter = handler.formatter
            if type(handler) is not LineHandler or type(formatter) not in (TextFormatter, JsonFormatter):
                return None
            for each in handler.filters:
                if type(each) is not RequestIdFilter:
                    return None
            if handler.level <= logging.INFO:
                found.append((handler, formatter))  # type: ignore[arg-type]  # its type was checked above
        current = current.parent if current.propagate else None
    return found or None


def log_handler(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """A handler writing ``log_format`` lines to ``stream`` (default stderr), request ids included."""
    handler = LineHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(level: str, log_format: LogFormat) -> None:
    """The program's logging: root at ``level``, one handler writing ``log_format`` to stderr."""
    logging.basicConfig(level=level, handlers=[log_handler(log_format)], force=True)
