"""Spend of one answer from the model's pricing and the tokens it used."""

from switchboard.api.provider import ProviderModel
from switchboard.proxy.adapters.base import Usage


def cost_usd(model: ProviderModel, usage: Usage) -> float:
    """USD for ``usage`` at the model's configured price (0 when it has none)."""
    if model.pricing is None:
        return 0.0
    price = model.pricing
    return (usage.prompt_tokens * price.input_per_million + usage.completion_tokens * price.output_per_million) / 1e6


def format_cost(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") or "0"
