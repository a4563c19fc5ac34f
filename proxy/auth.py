"""Client API-key authentication for the proxy.

Clients present a key as ``Authorization: Bearer <key>`` (OpenAI SDKs) or
``api-key: <key>`` (Azure OpenAI SDKs) or ``x-api-key: <key>`` (Anthropic SDKs). Keys come from a YAML file, normally a
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

Only SHA-256 digests are kept in memory; the presented key is hashed and its
digest looked up (a dict keyed by digests, so a request costs the same with ten
keys or ten thousand, and the timing depends on nothing a client can steer
towards a stored key). Keys are never
logged; a client is identified by its entry ``name``.

Wiring (the proxy's request lifecycle owner, ``proxy/http/lifecycle.py``)::

    source = KeyFileSource(path)                      # path from $SWITCHBOARD_API_KEYS_FILE
    RequestLifecycle(..., keys=source.current)        # authenticates every request that needs_key()
    ...
    # once the routing engine chose a profile for the request:
    require_profile(state.client, plan.profile.key)   # raises a 403 when not allowed

Authentication (401) happens before the handler runs; authorization (403) needs the
profile, which only the router knows, so the handler calls ``require_profile``.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiohttp import web

from switchboard.api.keys import KeyEntry, parse_key_document
from switchboard.api.keys import KeyFileError as KeyFileError
from switchboard.api.keys import hash_key as hash_key
from switchboard.api.profile import Budget, RateLimit
from switchboard.proxy.errors import ApiError

log = logging.getLogger(__name__)

API_KEYS_FILE_ENV: Final = "SWITCHBOARD_API_KEYS_FILE"
"""Environment variable naming the keys file; set by the Helm chart when ``proxy.auth.enabled``."""

PUBLIC_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics"})
"""Paths served without a key: probes and Prometheus scrapes."""


@dataclass(frozen=True, slots=True)
class Client:
    """An authenticated client: its name and the profile patterns it may use."""

    name: str
    profiles: tuple[str, ...]
    rate_limit: RateLimit | None = None
    """The key's own fleet-wide limits (``rateLimit`` in the keys file)."""
    budget: Budget | None = None
    """The key's own dollar budget (``budget``: ``period``, ``limitUsd``, ``softPercent``, ``softAction``)."""
    namespace: str | None = None
    """The team namespace whose Secret holds the key (its name is then ``namespace/secret``); None: the keys file."""
    _matches: Callable[[str], object] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_matches", profile_matcher(self.profiles))

    def may_use(self, profile_key: str) -> bool:
        """Whether this client may send requests routed to ``profile_key`` ("namespace/name" or "name")."""
        return self._matches(profile_key) is not None


def profile_matcher(patterns: Iterable[str]) -> Callable[[str], object]:
    """One compiled test for "``fnmatchcase`` matches one of ``patterns``" (returns None when none does).

    Runs twice per request with client auth on (the route, then the plan's profile); a loop over
    ``fnmatchcase`` calls cost several microseconds, one alternation of their translated regexes one match.
    """
    translated = [f"(?:{fnmatch.translate(pattern)})" for pattern in patterns]
    return re.compile("|".join(translated)).match if translated else _no_match


def _no_match(_: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class _StoredKey:
    digest: bytes
    client: Client


@dataclass(frozen=True, slots=True)
class KeyStore:
    """The loaded keys, as SHA-256 digests only. Immutable: reloads swap the whole store."""

    entries: tuple[_StoredKey, ...]
    _by_digest: dict[bytes, Client] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_digest", {entry.digest: entry.client for entry in self.entries})

    def __len__(self) -> int:
        return len(self.entries)

    @staticmethod
    def empty() -> KeyStore:
        """No keys: every request is refused (client auth on, nothing issued yet)."""
        return KeyStore(())

    def authenticate(self, presented: str) -> Client | None:
        """The client owning ``presented``, or None: one lookup of its SHA-256, however many keys there are.

        The table is keyed by the digest of what the client sent, never by the key: its timing
        depends on SipHash (seeded per process) of a SHA-256 the client cannot steer bit by bit,
        so it tells nothing about a stored key, and a stored digest would not reveal its key.
        """
        return self._by_digest.get(hash_key(presented))


def parse_key_file(text: str) -> KeyStore:
    """Parse and validate a keys file; raise :class:`KeyFileError` naming the problem (never a key)."""
    return build_store(parse_key_document(text).keys)


def build_store(entries: Iterable[KeyEntry], namespace: str | None = None) -> KeyStore:
    """The store of ``entries``; ``namespace``: the team namespace they were delivered for (None: the keys file)."""
    stored: list[_StoredKey] = []
    names: set[str] = set()
    digests: dict[bytes, str] = {}
    for i, entry in enumerate(entries):
        if entry.name in names:
            raise KeyFileError(f"invalid keys file: keys[{i}].name: duplicate name {entry.name!r}")
        names.add(entry.name)
        digest = entry.digest()
        if digest in digests:
            raise KeyFileError(f"invalid keys file: keys[{i}]: same key as {digests[digest]!r}")
        digests[digest] = entry.name
        client = Client(entry.name, entry.profiles, entry.rate_limit, entry.budget, namespace)
        stored.append(_StoredKey(digest, client))
    return KeyStore(tuple(stored))


def merge_stores(admin: KeyStore, teams: KeyStore) -> KeyStore:
    """The keys file's entries, then the team keys whose name and key the file does not already hold.

    The platform admins' file wins every collision, so no team key can take over
    an admin key's identity (its limits, budget, spend) or its requests.
    """
    names = {entry.client.name for entry in admin.entries}
    digests = {entry.digest for entry in admin.entries}
    kept = [e for e in teams.entries if e.client.name not in names and e.digest not in digests]
    if len(kept) < len(teams.entries):
        dropped = len(teams.entries) - len(kept)
        log.warning("ignoring %d team client key(s) whose name or key the keys file holds", dropped)
    return KeyStore((*admin.entries, *kept))


class CombinedKeys:
    """``current()``: the keys file's store merged with the team keys, rebuilt only when either changed."""

    def __init__(self, admin: Callable[[], KeyStore] | None, teams: Callable[[], KeyStore]) -> None:
        self._admin = admin
        self._teams = teams
        self._inputs: tuple[KeyStore | None, KeyStore] | None = None
        self._merged = KeyStore(())

    def current(self) -> KeyStore:
        inputs = (self._admin() if self._admin is not None else None, self._teams())
        if self._inputs is None or inputs[0] is not self._inputs[0] or inputs[1] is not self._inputs[1]:
            self._inputs = inputs
            self._merged = inputs[1] if inputs[0] is None else merge_stores(inputs[0], inputs[1])
        return self._merged


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
        self._path_name = os.fspath(path)
        self._stamp = self._stat()
        self._store = load_key_file(self._path)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._path_name)  # per request: the str path spares pathlib's layers
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
# HTTP: credentials and OpenAI-format errors


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents: ``Authorization: Bearer`` first, then ``api-key`` (Azure clients),
    then ``x-api-key`` (Anthropic clients); None if absent."""
    auth = headers.get("Authorization", "")
    scheme, _, credentials = auth.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    api_key = headers.get("api-key", "").strip() or headers.get("x-api-key", "").strip()
    return api_key or None


def _missing_key() -> ApiError:
    return ApiError(
        401,
        "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' or in the 'api-key' "
        "or 'x-api-key' header.",
        code="missing_api_key",
        headers=_CHALLENGE,
    )


def _invalid_key() -> ApiError:
    return ApiError(401, "Incorrect API key provided.", code="invalid_api_key", headers=_CHALLENGE)


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="switchboard"'}


def needs_key(request: web.Request) -> bool:
    """Whether ``request`` must present a key: everything but probes, scrapes and CORS preflights."""
    return request.path not in PUBLIC_PATHS and request.method != "OPTIONS"


def authenticated(current_store: Callable[[], KeyStore], request: web.Request) -> Client:
    """The client whose key ``request`` presents; raises the 401 ``ApiError`` when it presents none or an unknown one.

    ``current_store`` is called per request (``KeyFileSource(path).current``), so key rotations apply
    without a restart. The request's lifecycle owner calls this before the handler runs.
    """
    key = presented_key(request.headers)
    if key is None:
        raise _missing_key()
    client = current_store().authenticate(key)
    if client is None:
        log.info("rejected a request with an unknown API key from %s", request.remote)
        raise _invalid_key()
    return client


def require_profile(client: Client | None, profile_key: str) -> None:
    """Raise a 403 unless ``client`` may use ``profile_key``; no-op when auth is off (no client)."""
    if client is not None and not client.may_use(profile_key):
        log.info("client %r denied routing profile %r", client.name, profile_key)
        message = f"API key {client.name!r} is not allowed to use routing profile {profile_key!r}."
        raise ApiError(403, message, code="profile_not_allowed", param="model")
