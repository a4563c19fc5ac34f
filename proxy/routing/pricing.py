"""Model prices (USD per million tokens) and cost estimates.

A provider model's own ``pricing`` wins; otherwise the shipped table
(``pricing.yaml``) is looked up by the upstream model name, then the public
name, exactly or by the longest known prefix (so dated snapshots such as
``gpt-4o-2024-08-06`` or ``claude-3-5-haiku-20241022`` find their family).
"""

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from switchboard.api.provider import ProviderModel

DEFAULT_OUTPUT_TOKENS = 256
"""Completion size assumed for cost estimates when the request sets no max_tokens."""
_RESOLVED_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens; unset detail prices fall back to the input (cache) or output (reasoning) price."""

    input_per_million: float
    output_per_million: float
    cached_input_per_million: float | None = None
    cache_write_per_million: float | None = None
    reasoning_per_million: float | None = None

    def cost(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> float:
        """The details are parts of the totals (as in ``adapters.base.Usage``) and priced as themselves."""
        if not (cached_tokens or cache_write_tokens or reasoning_tokens):  # most answers: the same sum, shorter
            return (prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million) / 1e6
        cached = min(cached_tokens, prompt_tokens)
        written = min(cache_write_tokens, prompt_tokens - cached)
        reasoning = min(reasoning_tokens, completion_tokens)
        inp, out = self.input_per_million, self.output_per_million
        return (
            (prompt_tokens - cached - written) * inp
            + cached * _or(self.cached_input_per_million, inp)
            + written * _or(self.cache_write_per_million, inp)
            + (completion_tokens - reasoning) * out
            + reasoning * _or(self.reasoning_per_million, out)
        ) / 1e6


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


_DETAIL_KEYS = {"cached_input": "cached_input_per_million", "cache_write": "cache_write_per_million"}
_DETAIL_KEYS["reasoning"] = "reasoning_per_million"


class PricingTable:
    """Read-only price list keyed by model name."""

    __slots__ = ("_by_prefix", "_exact", "_resolved")

    def __init__(self, prices: dict[str, Price]) -> None:
        self._exact = dict(prices)
        self._by_prefix = sorted(prices.items(), key=lambda item: len(item[0]), reverse=True)
        self._resolved: dict[str, Price | None] = {}
        """Names already looked up (a miss scans every prefix: this runs for every answer's cost)."""

    @classmethod
    def default(cls) -> "PricingTable":
        """The table shipped in the package (read on each call: Routers keep theirs)."""
        text = resources.files("switchboard.proxy.routing").joinpath("pricing.yaml").read_text("utf-8")
        return cls.from_mapping(yaml.safe_load(text))

    @classmethod
    def from_mapping(cls, data: Any) -> "PricingTable":
        """Parse ``{models: {name: {input, output, cached_input?, cache_write?, reasoning?}}}``; names bad entries."""
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, dict):
            raise ValueError("pricing table: expected a 'models' mapping")
        prices: dict[str, Price] = {}
        for name, entry in models.items():
            if not isinstance(entry, dict) or not {"input", "output"} <= entry.keys():
                raise ValueError(f"pricing table: {name!r} needs input and output")
            unknown = set(entry) - {"input", "output", *_DETAIL_KEYS}
            if unknown:
                raise ValueError(f"pricing table: {name!r} has unknown keys {sorted(unknown)}")
            values = list(entry.values())
            if not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values):
                raise ValueError(f"pricing table: {name!r} prices must be non-negative numbers")
            details = {field: float(entry[key]) for key, field in _DETAIL_KEYS.items() if key in entry}
            prices[str(name)] = Price(float(entry["input"]), float(entry["output"]), **details)
        return cls(prices)

    def lookup(self, name: str) -> Price | None:
        try:
            return self._resolved[name]
        except KeyError:
            pass
        price = self._exact.get(name)
        if price is None:
            price = next((p for prefix, p in self._by_prefix if name.startswith(prefix)), None)
        if len(self._resolved) < _RESOLVED_LIMIT:  # names come from configs; the bound only guards memory
            self._resolved[name] = price
        return price

    def price_of(self, model: ProviderModel) -> Price | None:
        p = model.pricing
        if p is not None:
            return Price(
                p.input_per_million,
                p.output_per_million,
                p.cached_input_per_million,
                p.cache_write_per_million,
                p.reasoning_per_million,
            )
        return self.lookup(model.upstream) or self.lookup(model.name)


def estimated_completion_tokens(max_tokens: int | None, model: ProviderModel) -> int:
    """max_tokens (or DEFAULT_OUTPUT_TOKENS when unset), capped by the model's output limit."""
    wanted = DEFAULT_OUTPUT_TOKENS if max_tokens is None else max_tokens
    cap = model.max_output_tokens
    return wanted if cap is None else min(wanted, cap)
