"""``--log-format json``: one JSON object per line, each line of a request carrying its request, trace and span ids."""

import io
import json
import logging
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider

from switchboard.logformat import JsonFormatter, log_handler, request_id_for, request_scope
from switchboard.mock.harness import MockControl
from tests.fixtures.proxy import provider_config, proxy_config, start_proxy_cli, stop_process
from tests.fixtures.upstream import MockFactory

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def _record(message: str, *args: object, **extra: Any) -> logging.LogRecord:
    logger = logging.getLogger("switchboard.test")
    return logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, args, None, extra=extra)


def test_json_line_has_request_and_span_ids_and_extras() -> None:
    tracer = TracerProvider().get_tracer("test")
    with request_scope("req-1"), tracer.start_as_current_span("s") as span:
        line = JsonFormatter().format(_record("hello %s", "world", provider="a"))
    entry = json.loads(line)
    context = span.get_span_context()
    assert entry["message"] == "hello world"
    assert entry["level"] == "INFO" and entry["logger"] == "switchboard.test"
    assert entry["request_id"] == "req-1"
    assert entry["trace_id"] == f"{context.trace_id:032x}" and entry["span_id"] == f"{context.span_id:016x}"
    assert entry["provider"] == "a"
    assert entry["time"].endswith("+00:00")


def test_json_line_outside_a_request_has_no_ids_and_keeps_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logger = logging.getLogger("switchboard.test")
        record = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert "request_id" not in entry and "trace_id" not in entry
    assert "ValueError: boom" in entry["exception"]
    assert "\n" not in JsonFormatter().format(record)  # one line, whatever the traceback


def test_text_stays_the_default_shape() -> None:
    stream = io.StringIO()
    log_handler("text", stream).handle(_record("plain %d", 1))
    assert stream.getvalue().rstrip().endswith("INFO switchboard.test: plain 1")


@pytest.mark.parametrize(
    ("given", "kept"),
    [("abc-123_X.y:z", True), ("", False), ("has space", False), ("x" * 129, False), ('a"b', False), ("a\nb", False)],
)
def test_client_request_ids_are_kept_only_when_plain(given: str, kept: bool) -> None:
    result = request_id_for(given)
    assert (result == given) is kept
    assert result


@asynccontextmanager
async def cli_logging(mock: MockControl, tmp_path: Path, *args: str) -> AsyncIterator[tuple[openai.AsyncOpenAI, Path]]:
    """The proxy CLI (plus ``args``) over one provider on ``mock``, a client, and its log file (complete after)."""
    config_path = tmp_path / "proxy.yaml"
    config_path.write_text(json.dumps(proxy_config([provider_config("a", "openai", mock.base_url)]).to_wire()))
    log_path = tmp_path / "proxy.log"
    with log_path.open("wb") as log_file:
        process, url = await start_proxy_cli("--config", str(config_path), *args, stderr=log_file)
        try:
            async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="c", max_retries=0) as client:
                yield client, log_path
        finally:
            await stop_process(process)  # stopping writes every queued line


@pytest.mark.slow
async def test_cli_json_logs_carry_request_and_trace_ids(mock_upstream_factory: MockFactory, tmp_path: Path) -> None:
    mock = await mock_upstream_factory()
    async with cli_logging(mock, tmp_path, "--log-format", "json") as (client, log_path):
        raw = await client.chat.completions.with_raw_response.create(
            model="mock-model",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"traceparent": TRACEPARENT, "X-Request-Id": "client-req-7"},
        )
        hostile = await client.chat.completions.with_raw_response.create(
            model="mock-model",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-Request-Id": "evil\tinjected"},
        )
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
        upstream_saw = [r["traceparent"] for r in await mock.requests("mock-model")]
    assert upstream_saw == [TRACEPARENT, None]  # tracing off: the client's context passes through unchanged
    assert raw.headers["x-request-id"] == "client-req-7"
    generated = hostile.headers["x-request-id"]
    assert generated != "evil\tinjected" and len(generated) == 32

    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [e for e in entries if e["logger"] == "switchboard.proxy.access"]
    assert len(access) == 3, entries
    first = next(e for e in access if e.get("request_id") == "client-req-7")
    # Tracing is off: the client's trace context passes through, so the line still joins the client's trace.
    assert first["trace_id"] == TRACE_ID
    assert first["message"].startswith("POST /v1/chat/completions 200")
    assert any(e.get("request_id") == generated for e in access)
    assert any(" 404 " in e["message"] for e in access)
    assert all(e["request_id"] for e in access)
    assert {e["logger"] for e in entries} >= {"switchboard.proxy.access"}


@pytest.mark.slow
async def test_cli_text_access_lines_read_as_documented(mock_upstream_factory: MockFactory, tmp_path: Path) -> None:
    """The default format, as docs/headers-and-access-log.md shows it (the writer thread makes these lines itself)."""
    mock = await mock_upstream_factory()
    async with cli_logging(mock, tmp_path) as (client, log_path):
        for n in range(3):
            await client.chat.completions.create(
                model="mock-model",
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"X-Request-Id": f"text-{n}"},
            )
    access = [line for line in log_path.read_text().splitlines() if " switchboard.proxy.access: " in line]
    pattern = (
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO switchboard\.proxy\.access: POST /v1/chat/completions 200"
        r" api=chat profile=default provider=a client=- client_namespace=- duration_s=\d+\.\d{3} cost_usd=\S+"
        r" request_id=text-(\d)"
    )
    assert [re.fullmatch(pattern, line).group(1) for line in access] == ["0", "1", "2"], access  # type: ignore[union-attr]
