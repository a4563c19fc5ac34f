"""The client keys document: the cluster-wide keys file, and what the operator delivers per namespace.

One format for both (docs/auth.md)::

    keys:
      - name: team-a            # shown in logs and metrics instead of the key
        sha256: 9f86d081...     # hex SHA-256 of the key (preferred), or
        # key: sk-team-a-...    # the key in plaintext (the keys file only; never delivered)
        profiles: [team-a/*]    # profile keys ("namespace/name") or globs; "*" = all
        rateLimit: {requestsPerMinute: 600, tokensPerMinute: 200000}   # optional
        budget: {period: month, limitUsd: 500}                          # optional
        description: CI pipeline                                        # optional

The proxy parses the platform admins' file with :func:`parse_key_document`; the
operator writes each namespace's team keys (``switchboard.api.clientkeys``) in the
same format, digests only, and the proxy parses those with the same function.
"""

import hashlib

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from switchboard.api import yaml_guard
from switchboard.api.profile import Budget, RateLimit

KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$"
MIN_KEY_LENGTH = 16


class KeyFileError(ValueError):
    """A keys document that cannot be used; the message names the entry and field, never a key."""


class KeyEntry(BaseModel):
    """One client key: who it is, what it may use, its own limits."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1, max_length=317, pattern=KEY_NAME_PATTERN)  # namespace/Secret name fits
    key: str | None = Field(None, min_length=MIN_KEY_LENGTH, repr=False)
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    profiles: tuple[str, ...] = Field(min_length=1)
    rate_limit: RateLimit | None = Field(None, alias="rateLimit")
    budget: Budget | None = None
    description: str | None = Field(None, max_length=1024)

    @field_validator("profiles")
    @classmethod
    def _non_empty_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not p.strip() for p in value):
            raise ValueError("profile patterns must be non-empty strings")
        return value

    @model_validator(mode="after")
    def _exactly_one_secret(self) -> "KeyEntry":
        if (self.key is None) == (self.sha256 is None):
            raise ValueError("set exactly one of 'key' (plaintext) or 'sha256' (hex digest)")
        return self

    def digest(self) -> bytes:
        """The SHA-256 of the key, whichever way the entry gives it."""
        return hash_key(self.key) if self.key is not None else bytes.fromhex(self.sha256 or "")


class KeyDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: tuple[KeyEntry, ...]


def hash_key(key: str) -> bytes:
    """SHA-256 of a key as stored in a ``sha256`` field (there in hex)."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def parse_key_document(text: str, what: str = "keys file") -> KeyDocument:
    """Parse and validate a keys document; :class:`KeyFileError` names the problem (never a key)."""
    try:
        raw = yaml_guard.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise KeyFileError(f"{what} is not valid YAML{where}") from None
    try:
        return KeyDocument.model_validate(raw)
    except ValidationError as exc:
        raise KeyFileError(f"invalid {what}: {describe_error(exc)}") from None


def describe_error(error: ValidationError) -> str:
    """Field paths and messages only: pydantic's default text would echo the offending input (a key)."""
    parts = []
    for err in error.errors(include_input=False, include_url=False):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{path}: {message}" if path else message)
    return "; ".join(parts)
