"""Stream translators are incremental: any byte split gives the same events as one feed."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.proxy.adapters.base import UpstreamProtocolError
from tests.adapters.support import make_target
from tests.adapters.test_golden import BASE_URLS, GOLDEN, adapter_for

STREAMS = sorted(GOLDEN.glob("*/stream_*.sse"))


def translate(path: Path, pieces: list[bytes]) -> list[bytes]:
    family = path.parent.name
    translator = adapter_for(family).chat_stream(make_target(family, BASE_URLS[family]), "m", include_usage=True)
    out: list[bytes] = []
    for piece in pieces:
        out += translator.feed(piece)
    return out + translator.finish()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.parent.name)
def test_one_byte_at_a_time(path: Path) -> None:
    data = path.read_bytes()
    assert translate(path, [data[i : i + 1] for i in range(len(data))]) == translate(path, [data])


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.parent.name)
@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=40))
def test_arbitrary_splits(path: Path, cuts: list[int]) -> None:
    data = path.read_bytes()
    assert translate(path, split(data, cuts)) == translate(path, [data])


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.parent.name)
@settings(max_examples=40, deadline=None)
@given(fraction=st.floats(min_value=0.0, max_value=0.97))
def test_truncated_stream_is_a_protocol_error(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    cut = int(len(data) * fraction)
    # Cutting inside the trailing blank line(s) still leaves a complete stream; cut before the last event.
    last_event_start = data.rstrip(b"\r\n").rfind(b"data:")
    cut = min(cut, last_event_start)
    with pytest.raises(UpstreamProtocolError, match="ended"):
        translate(path, [data[:cut]])
