"""Which adapter serves which provider type."""

from switchboard.api.provider import ProviderType
from switchboard.proxy.adapters.azure import AzureOpenAIAdapter
from switchboard.proxy.adapters.base import Adapter
from switchboard.proxy.adapters.openai import OpenAIAdapter


def get_adapter(provider_type: ProviderType | str) -> Adapter:
    """A (stateless) adapter for the provider type; ``KeyError`` names unknown types."""
    match provider_type:
        case "openai" | "openai-compatible":
            return OpenAIAdapter()
        case "azure-openai":
            return AzureOpenAIAdapter()
    raise KeyError(f"no adapter for provider type {provider_type!r}")
