"""The contracts: CRD specs and the rendered proxy configuration.

These pydantic models are the single source of truth. CRD schemas are
generated from them, the operator renders ``ProxyConfig`` from them and the
proxy validates what it loads with them.
"""

from switchboard.api.config import ConfigError, ProxyConfig, load_config, parse_config
from switchboard.api.profile import ProfileConfig, RoutingProfileSpec
from switchboard.api.provider import LLMProviderSpec, ProviderConfig, ProviderModel

__all__ = [
    "ConfigError",
    "LLMProviderSpec",
    "ProfileConfig",
    "ProviderConfig",
    "ProviderModel",
    "ProxyConfig",
    "RoutingProfileSpec",
    "load_config",
    "parse_config",
]
