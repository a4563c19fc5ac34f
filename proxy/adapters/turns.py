"""OpenAI ``messages`` -> system text plus alternating turns (pure).

Anthropic and Gemini both take the system prompt apart from the conversation
and want each role's consecutive messages in one turn; they differ only in how
one message becomes blocks (a ``TurnBuilder``) and in the key holding them.
"""

from collections.abc import Callable, Mapping
from typing import Any

from switchboard.proxy.adapters.base import AdapterRequestError
from switchboard.proxy.adapters.content import text_of

Blocks = list[dict[str, Any]]
TurnBuilder = Callable[[dict[str, Any], str], tuple[str, Blocks]]
"""``(message, where) -> (upstream role, blocks)`` for one OpenAI role."""


def system_and_turns(
    messages: list[dict[str, Any]], builders: Mapping[str, TurnBuilder], *, blocks_key: str, family: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """System/developer texts, and the other messages as turns merged by role (empty ones dropped)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        where, role = f"messages[{index}]", message["role"]
        if role in ("system", "developer"):
            system.append(text_of(message.get("content"), where))
            continue
        if role not in builders:
            raise AdapterRequestError(f"{where}.role {role!r} is not supported")
        role, blocks = builders[role](message, where)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1][blocks_key].extend(blocks)
        else:
            turns.append({"role": role, blocks_key: blocks})
    if not turns:
        raise AdapterRequestError(f"{family} needs at least one user or assistant message with content")
    return system, turns
