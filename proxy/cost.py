"""Spend of one answer: the model's price (its own, else the shipped table) times its usage."""

from switchboard.api.provider import ProviderModel
from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.routing.pricing import PricingTable


def cost_usd(table: PricingTable, model: ProviderModel, usage: Usage) -> float | None:
    """USD for ``usage``; None for a model with no known price (unknown, never free)."""
    price = table.price_of(model)
    return price.cost(usage.prompt_tokens, usage.completion_tokens) if price else None


def format_cost(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") or "0"
