"""Client API-key authentication for the proxy.

Clients present a key as ``Authorization: Bearer <key>`` (OpenAI SDKs) or
``api-key: <key>`` (Azure OpenAI SDKs). Keys come from a YAML file, normally a
Secret mounted into the proxy pod (Helm value ``proxy.auth``)::

    keys:
      - name: team-a            # shown in logs instead of the key
        sha256: 9f86d081...     # hex SHA-256 of the key (preferred), or
        # key: sk-team-a-...    # the key in plaintext
        profiles: [team-a/*]    # profile keys ("namespace/name") or globs; "*" = all
        rateLimit:              # optional, this key's own limits over the whole fleet
          requestsPerMinute: 600
          tokensPerMinute: 200000
        budget: {period: month, limitUsd: 500}  # optional, this key's spend (USD, UTC calendar window)

Only SHA-256 digests are kept in memory, and the presented key is hashed and
compared against every digest with :func:`hmac.compare_digest`, so neither the
comparison nor the position of a match leaks through timing. Keys are never
logged; a client is identified by its entry ``name``.

Wiring (for the proxy's app factory)::

    source = KeyFileSource(path)                      # path from $SWITCHBOARD_API_KEYS_FILE
    app = web.Application(middlewares=[api_key_middleware(source.current)])
    ...
    # once the routing engine chose a profile for the request:
    require_profile(request, plan.profile.key)        # raises a 403 when not allowed

Authentication (401) happens in the middleware; authorization (403) needs the
profile, which only the router knows, so the handler calls ``require_profile``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Final

import yaml
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from switchboard.api import yaml_guard
from switchboard.api.profile import Budget, RateLimit
from switchboard.proxy.errors import ApiError

log = logging.getLogger(__name__)

API_KEYS_FILE_ENV: Final = "SWITCHBOARD_API_KEYS_FILE"
"""Environment variable naming the keys file; set by the Helm chart when ``proxy.auth.enabled``."""

PUBLIC_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics"})
"""Paths served without a key: probes and Prometheus scrapes."""


class KeyFileError(ValueError):
    """A keys file that cannot be used; the message names the entry and field, never a key."""


# ---------------------------------------------------------------------------
# The keys file: parsing and validation (pure)


class _KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")
    key: str | None = Field(None, min_length=16, repr=False)
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    profiles: tuple[str, ...] = Field(min_length=1)
    rate_limit: RateLimit | None = Field(None, alias="rateLimit")
    budget: Budget | None = None

    @field_validator("profiles")
    @classmethod
    def _non_empty_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not p.strip() for p in value):
            raise ValueError("profile patterns must be non-empty strings")
        return value

    @model_validator(mode="after")
    def _exactly_one_secret(self) -> _KeyEntry:
        if (self.key is None) == (self.sha256 is None):
            raise ValueError("set exactly one of 'key' (plaintext) or 'sha256' (hex digest)")
        return self


class _KeyFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: tuple[_KeyEntry, ...]


@dataclass(frozen=True, slots=True)
class Client:
    """An authenticated client: its name and the profile patterns it may use."""

    name: str
    profiles: tuple[str, ...]
    rate_limit: RateLimit | None = None
    """The key's own fleet-wide limits (``rateLimit`` in the keys file)."""
    budget: Budget | None = None
    """The key's own dollar budget (``budget``: ``period``, ``limitUsd``, ``softPercent``, ``softAction``)."""

    def may_use(self, profile_key: str) -> bool:
        """Whether this client may send requests routed to ``profile_key`` ("namespace/name" or "name")."""
        return any(fnmatchcase(profile_key, pattern) for pattern in self.profiles)


REQUEST_CLIENT: Final = web.RequestKey("switchboard.client", Client)
"""``request[REQUEST_CLIENT]`` holds the authenticated :class:`Client` after the middleware ran."""


@dataclass(frozen=True, slots=True)
class _StoredKey:
    digest: bytes
    client: Client


@dataclass(frozen=True, slots=True)
class KeyStore:
    """The loaded keys, as SHA-256 digests only. Immutable: reloads swap the whole store."""

    entries: tuple[_StoredKey, ...]

    def __len__(self) -> int:
        return len(self.entries)

    def authenticate(self, presented: str) -> Client | None:
        """The client owning ``presented``, or None. Constant time in the key and in the match position."""
        digest = hash_key(presented)
        found: Client | None = None
        for entry in self.entries:  # no early exit: every digest is compared
            if hmac.compare_digest(digest, entry.digest):
                found = entry.client
        return found


def hash_key(key: str) -> bytes:
    """SHA-256 of a key as stored in a keys file's ``sha256`` field (there in hex)."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def parse_key_file(text: str) -> KeyStore:
    """Parse and validate a keys file; raise :class:`KeyFileError` naming the problem (never a key)."""
    try:
        raw = yaml_guard.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise KeyFileError(f"keys file is not valid YAML{where}") from None
    try:
        parsed = _KeyFile.model_validate(raw)
    except ValidationError as exc:
        raise KeyFileError(f"invalid keys file: {_describe(exc)}") from None
    return _build_store(parsed.keys)


def _describe(error: ValidationError) -> str:
    """Field paths and messages only: pydantic's default text would echo the offending input (a key)."""
    parts = []
    for err in error.errors(include_input=False, include_url=False):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{path}: {message}" if path else message)
    return "; ".join(parts)


def _build_store(entries: Iterable[_KeyEntry]) -> KeyStore:
    stored: list[_StoredKey] = []
    names: set[str] = set()
    digests: dict[bytes, str] = {}
    for i, entry in enumerate(entries):
        if entry.name in names:
            raise KeyFileError(f"invalid keys file: keys[{i}].name: duplicate name {entry.name!r}")
        names.add(entry.name)
        digest = hash_key(entry.key) if entry.key is not None else bytes.fromhex(entry.sha256 or "")
        if digest in digests:
            raise KeyFileError(f"invalid keys file: keys[{i}]: same key as {digests[digest]!r}")
        digests[digest] = entry.name
        stored.append(_StoredKey(digest, Client(entry.name, entry.profiles, entry.rate_limit, entry.budget)))
    return KeyStore(tuple(stored))


def load_key_file(path: str | os.PathLike[str]) -> KeyStore:
    """Read and parse a keys file; :class:`KeyFileError` when it is missing or invalid."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"cannot read keys file {os.fspath(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise KeyFileError(f"keys file {os.fspath(path)!r} is not UTF-8 text") from None
    return parse_key_file(text)


class KeyFileSource:
    """The current :class:`KeyStore` of a file that may change (a Secret volume updates in place).

    ``current()`` re-reads the file when its identity (inode, size, mtime) changed.
    A broken update is logged and ignored: the last good store keeps serving, so a
    bad edit to the Secret never locks every client out. The first load must succeed.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._stamp = self._stat()
        self._store = load_key_file(self._path)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def current(self) -> KeyStore:
        stamp = self._stat()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._store = load_key_file(self._path)
                log.info("reloaded %d client API keys from %s", len(self._store), self._path)
            except KeyFileError as exc:
                log.error("keeping the previous client API keys: %s", exc)
        return self._store


# ---------------------------------------------------------------------------
# HTTP: credentials, OpenAI-format errors, middleware


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents: ``Authorization: Bearer`` first, then ``api-key``; None if absent."""
    auth = headers.get("Authorization", "")
    scheme, _, credentials = auth.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    api_key = headers.get("api-key", "").strip()
    return api_key or None


def _missing_key() -> ApiError:
    return ApiError(
        401,
        "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' or in the 'api-key' header.",
        code="missing_api_key",
        headers=_CHALLENGE,
    )


def _invalid_key() -> ApiError:
    return ApiError(401, "Incorrect API key provided.", code="invalid_api_key", headers=_CHALLENGE)


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="switchboard"'}


def api_key_middleware(
    current_store: Callable[[], KeyStore], *, public_paths: frozenset[str] = PUBLIC_PATHS
) -> Middleware:
    """An aiohttp middleware that raises a 401 ``ApiError`` unless the request carries a known key.

    ``current_store`` is called per request (``KeyFileSource(path).current`` or
    ``lambda: store``), so key rotations apply without a restart. On success the
    :class:`Client` is stored in ``request[REQUEST_CLIENT]`` for :func:`require_profile`.
    """

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in public_paths or request.method == "OPTIONS":
            return await handler(request)
        key = presented_key(request.headers)
        if key is None:
            raise _missing_key()
        client = current_store().authenticate(key)
        if client is None:
            log.info("rejected a request with an unknown API key from %s", request.remote)
            raise _invalid_key()
        request[REQUEST_CLIENT] = client
        return await handler(request)

    return authenticate


def request_client(request: web.Request) -> Client | None:
    """The authenticated client of a request, or None when authentication is not enabled."""
    return request.get(REQUEST_CLIENT)


def require_profile(request: web.Request, profile_key: str) -> None:
    """Raise a 403 unless the request's client may use ``profile_key``; no-op when auth is off."""
    client = request_client(request)
    if client is not None and not client.may_use(profile_key):
        log.info("client %r denied routing profile %r", client.name, profile_key)
        message = f"API key {client.name!r} is not allowed to use routing profile {profile_key!r}."
        raise ApiError(403, message, code="profile_not_allowed", param="model")
