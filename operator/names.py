"""Names and label values derived from resource names, always valid for Kubernetes."""

import hashlib

_MAX_NAME = 253
_MAX_LABEL = 63
CONFIG_MAP_PREFIX = "switchboard-"


def _shorten(text: str, limit: int) -> str:
    """``text`` if it fits, else a prefix plus a short digest so distinct inputs stay distinct."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"{text[: limit - 11].rstrip('-.')}-{digest}"


def config_map_name(namespace: str, profile: str) -> str:
    """Name of the ConfigMap rendered for a RoutingProfile, in the release namespace.

    ``<prefix><namespace>.<profile>`` is distinct for distinct profiles, as
    namespaces never contain a dot.
    """
    return _shorten(f"{CONFIG_MAP_PREFIX}{namespace}.{profile}", _MAX_NAME)


def label_value(name: str) -> str:
    """An object name as a label value (names may be longer than the 63 characters labels allow)."""
    return _shorten(name, _MAX_LABEL)
