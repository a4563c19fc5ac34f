"""Inbound encoders are incremental: any byte split of the upstream stream gives the same client events."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.proxy.adapters.base import UpstreamProtocolError
from tests.adapters.test_stream_splitting import split
from tests.apis.support import NATIVE_STREAMS, UPSTREAM_STREAMS, encoder, run

CASES = [(api, upstream) for api in ("responses", "messages") for upstream in [*UPSTREAM_STREAMS, None]]


def _id(case: tuple[str, Path | None]) -> str:
    api, upstream = case
    return f"{api}-{upstream.parent.name if upstream else 'native'}"


def _data(api: str, upstream: Path | None) -> bytes:
    return (upstream or NATIVE_STREAMS[api]).read_bytes()


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_every_byte_boundary(case: tuple[str, Path | None]) -> None:
    api, upstream = case
    data = _data(api, upstream)
    whole = run(encoder(api, upstream), [data])
    assert run(encoder(api, upstream), [data[i : i + 1] for i in range(len(data))]) == whole
    for cut in range(len(data) + 1):  # every single split point
        assert run(encoder(api, upstream), [data[:cut], data[cut:]]) == whole


@pytest.mark.parametrize("case", CASES, ids=_id)
@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=40))
def test_arbitrary_splits(case: tuple[str, Path | None], cuts: list[int]) -> None:
    api, upstream = case
    data = _data(api, upstream)
    assert run(encoder(api, upstream), split(data, cuts)) == run(encoder(api, upstream), [data])


@pytest.mark.parametrize("case", CASES, ids=_id)
@settings(max_examples=30, deadline=None)
@given(fraction=st.floats(min_value=0.0, max_value=0.97))
def test_truncated_stream_is_a_protocol_error(case: tuple[str, Path | None], fraction: float) -> None:
    api, upstream = case
    data = _data(api, upstream)
    cut = min(int(len(data) * fraction), data.rstrip(b"\r\n").rfind(b"data:"))
    with pytest.raises(UpstreamProtocolError, match="ended"):
        run(encoder(api, upstream), [data[:cut]])
