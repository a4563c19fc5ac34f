"""``--workers N`` metrics: every worker's ``/metrics`` reports the sum over all workers.

Through the real CLI. Each request goes over a fresh connection (so the kernel spreads
them over the workers' SO_REUSEPORT sockets) after a ``/readyz`` on the same connection,
which names the worker (its pid) that serves it.
"""

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import Collection
from pathlib import Path

import httpx2  # the openai SDK's HTTP client, so one connection serves both calls
import openai
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from switchboard.proxy.kube.connection import ApiConnection
from switchboard.proxy.metrics import MULTIPROC_DIR_ENV, create_metrics, multiprocess_dir
from switchboard.proxy.workers import reap
from tests.fixtures.proxy import ProxyServer, provider_config, proxy_config, start_proxy_cli, stop_process
from tests.fixtures.upstream import MockFactory

MAX_ATTEMPTS = 300  # fresh connections tried before giving up on reaching both workers


async def _worker_pid(http: httpx2.AsyncClient) -> int | None:
    """The pid of the worker behind this client's (single) connection, None while it is not ready."""
    try:
        reply = await http.get("/readyz")
    except httpx2.ConnectError:  # no worker listens yet
        return None
    return int(reply.json()["pid"]) if reply.status_code == 200 else None


def _one_connection(base_url: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(base_url=base_url, limits=httpx2.Limits(max_connections=1), timeout=30)


async def _chat_on_fresh_connection(base_url: str, n: int) -> tuple[int, int] | None:
    """One chat request on a new connection: the serving worker's pid and the answer's total tokens
    (None: not ready, nothing sent)."""
    async with _one_connection(base_url) as http:
        pid = await _worker_pid(http)
        if pid is None:
            return None
        client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="c", max_retries=0, http_client=http)
        reply = await client.chat.completions.create(model="mock-model", messages=[{"role": "user", "content": f"{n}"}])
        assert reply.choices[0].message.content == f"{n}"
        assert reply.usage is not None
        return pid, reply.usage.total_tokens


async def _scrape_on_fresh_connection(base_url: str) -> tuple[int, dict[str, float]] | None:
    """(pid, {sample name: value summed over labels}) of one worker's ``/metrics``."""
    async with _one_connection(base_url) as http:
        pid = await _worker_pid(http)
        if pid is None:
            return None
        text = (await http.get("/metrics")).text
    totals: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] += sample.value
    return pid, dict(totals)


async def _scrape_every_worker(base_url: str, pids: Collection[int]) -> dict[int, dict[str, float]]:
    """One ``/metrics`` of each of ``pids``, each over fresh connections until that worker answers one."""
    scrapes: dict[int, dict[str, float]] = {}
    for _ in range(MAX_ATTEMPTS):
        scrape = await _scrape_on_fresh_connection(base_url)
        if scrape is not None:
            scrapes[scrape[0]] = scrape[1]
        if scrapes.keys() == set(pids):
            break
    assert scrapes.keys() == set(pids)
    return scrapes


@pytest.mark.slow
async def test_every_worker_reports_the_requests_of_all_workers(
    mock_upstream_factory: MockFactory, tmp_path: Path
) -> None:
    mock = await mock_upstream_factory()
    server = ProxyServer("", tmp_path / "proxy.yaml")
    server.write_config(proxy_config([provider_config("a", "openai", mock.base_url)]))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process, base_url = await start_proxy_cli(
        "--config", str(server.config_path), "--workers", "2", env={"TMPDIR": str(scratch)}
    )
    try:
        [metrics_dir] = scratch.glob("switchboard-metrics-*")  # the run's PROMETHEUS_MULTIPROC_DIR

        served: Counter[int] = Counter()
        tokens = 0
        for n in range(MAX_ATTEMPTS):
            answer = await _chat_on_fresh_connection(base_url, n)
            if answer is not None:
                served[answer[0]] += 1
                tokens += answer[1]
            if len(served) == 2 and min(served.values()) >= 2 and served.total() >= 8:
                break
            await asyncio.sleep(0.01 if answer is not None else 0.05)
        assert len(served) == 2, f"the requests never reached both workers: {served}"
        requests = served.total()
        assert (await mock.stats())["total"] == requests

        scrapes = await _scrape_every_worker(base_url, served.keys())
        for pid, totals in scrapes.items():
            assert totals["switchboard_requests_total"] == requests, f"worker {pid}: {totals}"
            assert totals["switchboard_request_duration_seconds_count"] == requests
            assert totals["switchboard_time_to_first_byte_seconds_count"] == requests
            assert totals["switchboard_routing_decisions_total"] == requests
            assert totals["switchboard_tokens_total"] == tokens  # prompt and completion, as the answers said
            assert totals["switchboard_config_loaded"] == 1  # livemin: both workers serve a config
            assert totals["switchboard_config_reloads_total"] == 2  # one first load per worker
        # Each worker keeps its counters and histograms in files of its own, beside the library's gauges.
        for pid in served:
            assert {f.name.partition("-")[0] for f in metrics_dir.glob(f"*_{pid}-*.db")} == {
                f"counter_{pid}",
                f"histogram_{pid}",
            }

        # No flush, no period: the next scrape by either worker has the next request at once.
        answer = await _chat_on_fresh_connection(base_url, requests)
        assert answer is not None  # both workers are ready by now
        for pid, totals in (await _scrape_every_worker(base_url, served.keys())).items():
            assert totals["switchboard_requests_total"] == requests + 1, f"worker {pid}: {totals}"
            assert totals["switchboard_tokens_total"] == tokens + answer[1]
        assert metrics_dir.is_dir()
    finally:
        await stop_process(process)
    assert process.returncode == 0
    assert list(scratch.iterdir()) == []  # the metrics directory is removed at exit


def test_a_single_process_serves_its_own_registry() -> None:
    metrics = create_metrics(lambda: None, environ={})
    assert metrics.exposition is metrics.registry


def test_workers_serve_the_aggregate_of_the_shared_directory(tmp_path: Path) -> None:
    metrics = create_metrics(lambda: None, environ={MULTIPROC_DIR_ENV: str(tmp_path)})
    assert metrics.exposition is not metrics.registry
    exposed = generate_latest(metrics.exposition).decode()
    assert "switchboard_circuit_state" in exposed  # the worker's own circuits stay in
    assert multiprocess_dir({MULTIPROC_DIR_ENV: " "}) is None


@pytest.mark.parametrize("workers", [False, True])
def test_the_api_server_connection_is_in_the_exposition_in_both_modes(tmp_path: Path, workers: bool) -> None:
    """``switchboard_kube_api_connected`` and ``switchboard_config_age_seconds`` are read at scrape time from
    the answering worker's connection: with ``--workers`` they join the aggregate, as the circuits do."""
    metrics = create_metrics(lambda: None, environ={MULTIPROC_DIR_ENV: str(tmp_path)} if workers else {})
    connection = ApiConnection(clock=lambda: 100.0)
    connection.ok("configmaps")
    with metrics.collecting(connection.collector()):
        exposed = generate_latest(metrics.exposition).decode()
        assert "switchboard_kube_api_connected 1.0" in exposed
        assert "switchboard_config_age_seconds 0.0" in exposed
    assert "switchboard_kube_api_connected" not in generate_latest(metrics.exposition).decode()


def test_reap_reports_each_worker_as_it_exits() -> None:
    """The worker that ends first is reported first (its live gauges are dropped at once), with its code."""
    # ``waiting`` runs until its stdin closes, which happens only once ``failing`` was reported.
    waiting = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    failing = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    exited: list[int] = []

    def on_exit(pid: int) -> None:
        exited.append(pid)
        if pid == failing.pid and waiting.stdin is not None:
            waiting.stdin.close()

    codes = reap([waiting, failing], on_exit)
    assert exited == [failing.pid, waiting.pid]
    assert codes == [3, 0]
    assert (waiting.returncode, failing.returncode) == (0, 3)
