"""The mock's OpenAI Responses API and Anthropic count_tokens, on the wire (what native pass-through meets)."""

import aiohttp
import orjson

from switchboard.mock.harness import MockControl

RESPONSES = {"model": "m1", "instructions": "be brief", "input": "one two three"}


async def test_responses_answer_and_event_stream(mock_upstream: MockControl) -> None:
    url = mock_upstream.base_url + "/v1/responses"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=RESPONSES) as resp:
            body = await resp.json()
        async with session.post(url, json={**RESPONSES, "stream": True}) as resp:
            raw = await resp.read()
        async with session.post(url, json={**RESPONSES, "previous_response_id": "resp_1"}) as resp:
            refused = resp.status, await resp.json()
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["output"][0]["content"][0]["text"] == "one two three"
    assert body["usage"] == {
        "input_tokens": 5,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 8,
    }
    events = [event.split(b"\ndata: ", 1) for event in raw.strip().split(b"\n\n")]
    payloads = [orjson.loads(data) for _, data in events]
    assert [name.removeprefix(b"event: ").decode() for name, _ in events] == [p["type"] for p in payloads]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert payloads[-1]["response"] == body
    assert "".join(p["delta"] for p in payloads if p["type"] == "response.output_text.delta") == "one two three"
    assert refused[0] == 400 and "previous_response_id" in refused[1]["error"]["message"]


async def test_responses_function_call_then_result(mock_upstream: MockControl) -> None:
    url = mock_upstream.base_url + "/v1/responses"
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={**RESPONSES, "tools": tools}) as resp:
            (call,) = (await resp.json())["output"]
        follow_up = [
            {"role": "user", "content": "q"},
            call,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "42"},
        ]
        async with session.post(url, json={"model": "m1", "input": follow_up, "tools": tools}) as resp:
            answer = await resp.json()
    assert call["type"] == "function_call" and call["name"] == "lookup"
    assert answer["output"][0]["content"][0]["text"] == "tool said: 42"


async def test_anthropic_count_tokens(mock_upstream: MockControl) -> None:
    body = {"model": "m1", "system": "be brief", "messages": [{"role": "user", "content": "one two three"}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            mock_upstream.base_url + "/v1/messages/count_tokens", json=body, headers={"anthropic-version": "2023-06-01"}
        ) as resp,
    ):
        assert resp.status == 200
        assert await resp.json() == {"input_tokens": 5}
