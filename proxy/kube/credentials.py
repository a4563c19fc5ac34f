"""API keys from the ``switchboard-credentials`` Secret, for ``apiKey.secret`` sources.

The operator copies each provider's key into that one Secret (key
``credential_key(namespace, provider)``) so the proxy needs read access to a
single named Secret. A key is handed out only to the provider it belongs to,
whatever a config asks for. Values live only in memory; nothing here logs or
formats them.
"""

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

from switchboard.api.provider import ProviderConfig, SecretKeyRef
from switchboard.api.status import CREDENTIALS_SECRET, credential_key


class CredentialError(LookupError):
    """A key that cannot be resolved; the message names the Secret and key, never a value."""


def decode_secret_data(secret: Mapping[str, Any] | None) -> dict[str, str]:
    """``data`` of a raw Secret, base64-decoded; undecodable entries are dropped."""
    decoded: dict[str, str] = {}
    data = (secret or {}).get("data") or {}
    for key, value in data.items():
        try:
            decoded[str(key)] = base64.b64decode(str(value), validate=True).decode().strip()
        except (binascii.Error, UnicodeDecodeError):
            continue
    return decoded


class CredentialStore:
    """The current contents of the credentials Secret; a resolver for secret sources."""

    def __init__(self, secret_name: str = CREDENTIALS_SECRET) -> None:
        self.secret_name = secret_name
        self._keys: dict[str, str] = {}

    def replace(self, keys: Mapping[str, str]) -> bool:
        """Swap in new contents; True when anything changed."""
        changed = dict(keys) != self._keys
        self._keys = dict(keys)
        return changed

    def keys(self) -> frozenset[str]:
        """The key names held (never the values)."""
        return frozenset(self._keys)

    def fingerprint(self) -> str:
        """A digest of the contents, to tell whether a re-apply is needed."""
        digest = hashlib.sha256()
        for key in sorted(self._keys):
            digest.update(f"{key}\0{self._keys[key]}\0".encode())
        return digest.hexdigest()

    def resolve(self, provider: ProviderConfig, ref: SecretKeyRef) -> str:
        """The key a provider's ``secret`` credential source points at: only ever its own."""
        if ref.name != self.secret_name:
            raise CredentialError(
                f"secret {ref.name!r}: the proxy reads only {self.secret_name!r} "
                "(the operator copies provider keys into it)"
            )
        own = credential_key(provider.namespace or "", provider.name)
        if ref.key != own:
            raise CredentialError(f"provider {provider.key} may use only its own key {own!r}, not {ref.key!r}")
        try:
            return self._keys[ref.key]
        except KeyError:
            raise CredentialError(f"secret {self.secret_name!r} has no key {ref.key!r}") from None

    def __repr__(self) -> str:
        return f"CredentialStore(secret={self.secret_name!r}, keys={sorted(self._keys)})"
