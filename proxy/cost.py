"""Spend of one answer: the model's price (its own, else the shipped table) times its usage."""

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.routing.pricing import Price


def cost_usd(price: Price | None, usage: Usage) -> float | None:
    """USD for ``usage`` at ``price`` (the attempt's), cache reads/writes and reasoning at their own prices;
    None for a model with no known price (unknown, never free)."""
    if price is None:
        return None
    return price.cost(
        usage.prompt_tokens,
        usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        reasoning_tokens=usage.reasoning_tokens,
    )


def format_cost(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") or "0"
