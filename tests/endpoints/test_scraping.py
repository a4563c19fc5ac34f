"""The mock's vLLM-style metrics and the proxy's reading of them."""

import aiohttp

from switchboard.mock.harness import MockControl
from switchboard.proxy.endpoints.scraper import read_gauges


async def test_mock_serves_settable_vllm_metrics_that_the_scraper_reads(mock_upstream: MockControl) -> None:
    await mock_upstream.set_engine_load(waiting=5, kv_cache_usage=0.75)
    async with aiohttp.ClientSession() as session:
        async with session.get(mock_upstream.base_url + "/metrics") as response:
            text = await response.text()
        async with session.post(mock_upstream.base_url + "/_mock/metrics", json={"kvCacheUsage": 2}) as response:
            assert response.status == 400
    names = ("vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
    assert read_gauges(text, names) == dict(zip(names, (5.0, 0.75, 0.75), strict=True))
    assert read_gauges(text, ["vllm:num_requests_running"]) == {"vllm:num_requests_running": 0.0}


def test_gauges_are_summed_over_series_and_absent_names_left_out() -> None:
    text = 'q{model="a"} 2\nq{model="b"} 3\nother 1\n'
    assert read_gauges(text, ["q", "missing"]) == {"q": 5.0}
