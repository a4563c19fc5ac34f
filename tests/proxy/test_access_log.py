"""The access log's writer thread: every line arrives, in order, formatted as configured, none after stop.

Lines that go only to the program's own handlers are made by the writer itself and written a batch at a
time; they must read byte for byte as the same handlers write them from a record (any other handler).
"""

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import make_mocked_request
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext, TraceFlags

from switchboard.logformat import LineHandler, RequestIdFilter, line_handlers, log_handler
from switchboard.proxy.auth import Client
from switchboard.proxy.http.access_log import LOGGER_NAME, AccessLine, AccessLog
from switchboard.proxy.http.app_keys import RequestState
from tests.fixtures.proxy import bare_runtime

SPAN = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, is_remote=False, trace_flags=TraceFlags(1))


def without_capture(logger: logging.Logger) -> None:
    """pytest attaches its capture handlers to non-propagating loggers too, as each test's call begins."""
    logger.handlers.clear()


def line(n: int, cost: float | None = 0.5, **changes: object) -> AccessLine:
    made = AccessLine(
        1_700_000_000.25, "POST", "/v1/chat/completions", 200, "chat", "p", f"prov{n}", None, 0.0123, cost, "-", "-",
        None, None,
    )  # fmt: skip
    return made._replace(**changes)


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A logger of its own, not propagating to the root's test capture (``without_capture`` in the test body)."""
    found = logging.getLogger("switchboard.test.access")
    found.setLevel(logging.INFO)
    found.propagate = False
    yield found
    found.handlers.clear()
    found.filters.clear()


def test_lines_queued_while_running_are_all_written_in_order_by_stop(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    log = AccessLog()
    log.start()
    for n in range(200):
        log.write(line(n))
    log.stop()
    records = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert [r.getMessage().split()[5] for r in records] == [f"provider=prov{n}" for n in range(200)]
    assert records[0].getMessage() == (
        "POST /v1/chat/completions 200 api=chat profile=p provider=prov0 client=- client_namespace=-"
        " duration_s=0.012 cost_usd=0.5"
    )
    assert records[0].created == 1_700_000_000.25  # when the request ended, not when the thread wrote it
    assert records[0].msecs == pytest.approx(250)


def test_without_the_thread_a_line_is_written_in_place(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    AccessLog().write(line(1, cost=None))
    [record] = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert record.getMessage().endswith("cost_usd=-")


def test_a_request_line_is_made_from_its_state_and_the_level_decides(caplog: pytest.LogCaptureFixture) -> None:
    request = make_mocked_request("POST", "/v1/chat/completions")
    state = RequestState(bare_runtime(), "req-9", "chat/completions", "chat", 0.0)
    state.profile, state.provider, state.cost_usd = "team/chat", "team/openai", 0.25
    state.client = Client("team-a", ("*",), namespace="ns-a")
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    AccessLog().add(request, 200, state, 0.5)
    assert not [r for r in caplog.records if r.name == LOGGER_NAME]
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    AccessLog().add(request, 200, state, 0.5)
    [record] = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert record.getMessage() == (
        "POST /v1/chat/completions 200 api=chat profile=team/chat provider=team/openai client=team-a"
        " client_namespace=ns-a duration_s=0.500 cost_usd=0.25"
    )
    assert record.request_id == "req-9"  # type: ignore[attr-defined]


LINES = [
    line(1),
    line(2, cost=None, request_id="req-2"),
    line(3, cost=0.000315, request_id="req-3", span=SPAN, client=Client("team-a", ("*",), namespace="ns-a")),
    line(4, status=499, spill="p1:saturated", upstream_endpoint="10.0.0.7:8000", client=Client("ops", ("*",))),
    line(5, created=1_700_000_001.0421, path="/v1/100%25/x", request_id="r-5"),
]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_lines_made_by_the_writer_read_as_the_handlers_own(logger: logging.Logger, log_format: str) -> None:
    """The writer's own lines (the program's handler) equal the record path's (the same handler plus any filter)."""
    without_capture(logger)
    made, recorded = CountingStream(), CountingStream()
    own = log_handler(log_format, made)  # type: ignore[arg-type]
    logger.addHandler(own)
    log = AccessLog(logger)
    assert line_handlers(logger) == [(own, own.formatter)]
    log.start()
    for each in LINES:
        log.write(each)
    log.stop()
    assert made.writes == 1  # the batch in one write
    logger.removeHandler(own)
    other = log_handler(log_format, recorded)
    other.addFilter(lambda record: True)  # not the program's own filters: the record path
    logger.addHandler(other)
    assert line_handlers(logger) is None
    for each in LINES:
        log.write(each)
    assert recorded.writes == len(LINES) and made.getvalue() == recorded.getvalue()
    written = made.getvalue().splitlines()
    if log_format == "json":
        entries = [json.loads(text) for text in written]
        assert entries[2]["trace_id"] == f"{SPAN.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert entries[2]["span_id"] == "00f067aa0ba902b7"
        assert entries[2]["request_id"] == "req-3" and "request_id" not in entries[0]
        assert entries[3]["message"].endswith("cost_usd=0.5 upstream_endpoint=10.0.0.7:8000 spill=p1:saturated")
        return
    assert written[2].endswith(
        " INFO switchboard.test.access: POST /v1/chat/completions 200 api=chat profile=p provider=prov3 client=team-a"
        " client_namespace=ns-a duration_s=0.012 cost_usd=0.000315 request_id=req-3"
    )
    assert written[3].split(" INFO ")[1] == (
        "switchboard.test.access: POST /v1/chat/completions 499 api=chat profile=p provider=prov4 client=ops"
        " client_namespace=- duration_s=0.012 cost_usd=0.5 upstream_endpoint=10.0.0.7:8000 spill=p1:saturated"
    )
    assert ",042 INFO " in written[4] and "/v1/100%25/x" in written[4]


words = st.text(max_size=12)
fields = st.builds(
    AccessLine,
    created=st.one_of(
        st.floats(min_value=0, max_value=4e9),
        st.integers(1_700_000_000_000, 1_700_000_002_000).map(lambda ms: ms / 1000),  # every millisecond's edge
        st.integers(0, 2_000_000).map(lambda us: 1_700_000_000 + us / 1e6 - 5e-7),  # halfway between microseconds
    ),
    method=st.sampled_from(["GET", "POST"]),
    path=words,
    status=st.integers(100, 599),
    api=words,
    profile=words,
    provider=words,
    client=st.none() | st.builds(Client, words, st.just(("*",)), namespace=st.none() | words),
    duration_s=st.floats(min_value=0, max_value=1e6),
    cost_usd=st.none() | st.floats(min_value=0, max_value=1e4),
    spill=st.just("-") | words,
    upstream_endpoint=st.just("-") | words,
    request_id=st.none() | words,
    span=st.sampled_from([None, SPAN, INVALID_SPAN_CONTEXT]),
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["text", "json"]), st.lists(fields, min_size=1, max_size=6))
def test_any_lines_the_writer_makes_equal_the_record_paths(log_format: str, lines: list[AccessLine]) -> None:
    """Byte for byte, whatever the fields, times and ids: the writer's own lines and the handler's from records."""
    logger = logging.getLogger("switchboard.test.access.any")
    logger.propagate = False
    made, recorded = io.StringIO(), io.StringIO()
    own = log_handler(log_format, made)  # type: ignore[arg-type]
    other = log_handler(log_format, recorded)  # type: ignore[arg-type]
    other.addFilter(lambda record: True)  # not the program's own filters: the record path
    try:
        for handler, stream in ((own, made), (other, recorded)):
            logger.handlers[:] = [handler]
            assert (line_handlers(logger) is None) is (stream is recorded)
            log = AccessLog(logger)
            log.start()
            for each in lines:
                log.write(each)
            log.stop()
    finally:
        logger.handlers.clear()
    assert made.getvalue() == recorded.getvalue()
    assert len(made.getvalue().splitlines()) >= len(lines)  # a field's own line breaks, if any, add lines


def test_only_the_programs_own_handlers_take_the_writers_lines(logger: logging.Logger) -> None:
    without_capture(logger)
    assert line_handlers(logger) is None  # no handler at all: logging's last resort decides
    own = log_handler("text", io.StringIO())
    logger.addHandler(own)
    assert line_handlers(logger) is not None
    own.setLevel(logging.WARNING)
    assert line_handlers(logger) is None  # the one handler does not take INFO
    own.setLevel(logging.NOTSET)
    logger.addFilter(RequestIdFilter())
    assert line_handlers(logger) is None  # a filter on the logger sees records
    logger.filters.clear()
    own.setFormatter(logging.Formatter("%(message)s"))
    assert line_handlers(logger) is None
    logger.handlers.clear()
    logger.addHandler(logging.StreamHandler(io.StringIO()))
    assert line_handlers(logger) is None
    logger.handlers.clear()
    logger.addHandler(LineHandler(io.StringIO()))  # no formatter of ours
    assert line_handlers(logger) is None


def test_the_writer_sleeps_through_a_quiet_spell_and_the_next_line_wakes_it(logger: logging.Logger) -> None:
    """While no request ends the writer waits on nothing but the next line (no wake-ups); that line, queued
    however the loop and the thread interleave, is written without a stop to drain it."""
    without_capture(logger)
    stream = io.StringIO()
    logger.addHandler(log_handler("text", stream))
    log = AccessLog(logger, interval_s=0.001)
    log.start()
    try:
        for n in range(40):  # each line after the writer's last batch, some while it is going to sleep
            log.write(line(n))
            written = threading.Event()
            while not written.wait(0.001):
                if f"provider=prov{n} " in stream.getvalue():
                    written.set()
            quiet = threading.Event()
            while not log._idle:  # the writer said it sleeps: the next line must wake it
                quiet.wait(0.001)
    finally:
        log.stop()
    assert len(stream.getvalue().splitlines()) == 40


def test_a_writer_stopped_while_asleep_stops_at_once_and_can_start_again(logger: logging.Logger) -> None:
    """``stop`` wakes a writer asleep through a quiet spell (it does not wait for a line), drains, and a later
    ``start`` runs a new writer that writes the next lines."""
    without_capture(logger)
    stream = io.StringIO()
    logger.addHandler(log_handler("text", stream))
    log = AccessLog(logger, interval_s=0.001)
    for n in range(2):
        log.start()
        log.write(line(n))
        quiet = threading.Event()
        while not log._idle or f"provider=prov{n} " not in stream.getvalue():  # written, then asleep
            quiet.wait(0.001)
        log.stop()
        assert log._thread is None
    assert [text.split()[9] for text in stream.getvalue().splitlines()] == ["provider=prov0", "provider=prov1"]
