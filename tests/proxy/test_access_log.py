"""The access log's writer thread: every line arrives, in order, formatted as configured, none after stop."""

import logging

import pytest

from switchboard.proxy.http.access_log import LOGGER_NAME, AccessLine, AccessLog


def line(n: int, cost: float | None = 0.5) -> AccessLine:
    return AccessLine(
        "POST", "/v1/chat/completions", 200, "chat", "p", f"prov{n}", "-", "-", 0.0123, cost, 1_700_000_000.25, {}
    )


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


def test_the_level_decides_like_for_any_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    assert not AccessLog().enabled()
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    assert AccessLog().enabled()
