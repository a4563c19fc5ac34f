"""Client keys that teams issue in their own namespace, and how they reach the proxies (docs/tenancy.md).

A team issues a key by creating a Secret in its namespace, labelled
``switchboard.dev/client-key: "true"``, holding the key (data ``key``) or its
SHA-256 (data ``sha256``, hex), with annotations saying which RoutingProfiles
**of that namespace** it may use, an optional rate limit and budget, and a
description. Whoever may create Secrets in a namespace may issue keys for its
profiles, and for no others: RBAC stays Kubernetes' own.

The operator reads every such Secret (:func:`read_secret` keeps the digest only),
decides what each is worth (:func:`plan`: pure, so every replica and every test
agree) and writes each namespace's accepted keys as one keys document (digests
only, the format of ``switchboard.api.keys``) into the credentials Secret of the
release namespace, under :func:`delivery_key`. The proxies already watch that one
Secret, so they need no read access to tenant namespaces, and the digests stay in
a Secret (out of the ``view`` role's reach) rather than a ConfigMap. The proxy
checks each document again with :func:`scope_violation` before using it.
"""

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from switchboard.api import yaml_guard
from switchboard.api.keys import MIN_KEY_LENGTH, KeyDocument, KeyEntry, describe_error
from switchboard.api.object_key import object_key
from switchboard.api.profile import Budget, RateLimit

CLIENT_KEY_LABEL = "switchboard.dev/client-key"  # value "true"
PROFILES_ANNOTATION = "switchboard.dev/profiles"  # "chat, embeddings" or "*": RoutingProfiles of the namespace
DESCRIPTION_ANNOTATION = "switchboard.dev/description"
RATE_LIMIT_ANNOTATION = "switchboard.dev/rate-limit"  # "{requestsPerMinute: 600, tokensPerMinute: 200000}"
BUDGET_ANNOTATION = "switchboard.dev/budget"  # "{period: month, limitUsd: 50}"
KEY_FIELD = "key"  # Secret data: the key itself
DIGEST_FIELD = "sha256"  # Secret data: or its SHA-256 in hex
DELIVERY_PREFIX = "client-keys_"  # "_" never occurs in a namespace or provider name: no clash with provider keys
MAX_KEYS_PER_NAMESPACE = 100
"""Keys delivered per namespace (oldest first): bounds what one tenant adds to every proxy and metric."""

M = TypeVar("M", bound=BaseModel)
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_GLOB = re.compile(r"[*?\[]")

Reason = Literal[
    "ClientKeyAccepted", "UnknownProfile", "InvalidClientKey", "ProfileNotInNamespace", "DuplicateClientKey",
    "TooManyClientKeys",
]  # fmt: skip


def delivery_key(namespace: str) -> str:
    """The credentials Secret's data key holding ``namespace``'s keys document."""
    return f"{DELIVERY_PREFIX}{namespace}"


def delivered_namespace(data_key: str) -> str | None:
    """The namespace whose keys document ``data_key`` holds; None for a provider key."""
    return data_key.removeprefix(DELIVERY_PREFIX) if data_key.startswith(DELIVERY_PREFIX) else None


@dataclass(frozen=True, slots=True)
class ClientKeySecret:
    """What the operator keeps of a labelled Secret: never the key, only its digest."""

    namespace: str
    name: str
    uid: str = ""
    created: str = ""  # metadata.creationTimestamp (RFC 3339: sorts by time)
    digest: str | None = None  # hex SHA-256
    profiles: tuple[str, ...] = ()  # as written in the annotation
    rate_limit: RateLimit | None = None
    budget: Budget | None = None
    description: str | None = None
    problem: str | None = None  # why the Secret itself is unusable (InvalidClientKey)

    @property
    def key_name(self) -> str:
        """Its name in logs, metrics, budgets: ``namespace/secret``."""
        return object_key(self.namespace, self.name)

    def event_object(self) -> dict[str, Any]:
        """The Secret as an Event's ``involvedObject`` needs it."""
        meta = {"name": self.name, "namespace": self.namespace, "uid": self.uid}
        return {"apiVersion": "v1", "kind": "Secret", "metadata": meta}


def read_secret(body: Mapping[str, Any]) -> ClientKeySecret:
    """Digest and settings of a labelled Secret (raw API object); a problem instead when unusable."""
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    base = ClientKeySecret(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        created=str(meta.get("creationTimestamp") or ""),
    )
    digest = _digest(body.get("data") or {})
    if not isinstance(digest, bytes):
        return _with(base, problem=digest)
    profiles = tuple(p.strip() for p in str(annotations.get(PROFILES_ANNOTATION) or "").split(",") if p.strip())
    if not profiles:
        problem = f"annotation {PROFILES_ANNOTATION} is required: RoutingProfile names of this namespace, or *"
        return _with(base, problem=problem)
    try:
        rate_limit = _annotation(annotations, RATE_LIMIT_ANNOTATION, RateLimit)
        budget = _annotation(annotations, BUDGET_ANNOTATION, Budget)
    except ValueError as e:
        return _with(base, problem=str(e))
    description = str(annotations.get(DESCRIPTION_ANNOTATION) or "")[:1024] or None
    return _with(
        base, digest=digest.hex(), profiles=profiles, rate_limit=rate_limit, budget=budget, description=description
    )


def _with(base: ClientKeySecret, **changes: Any) -> ClientKeySecret:
    fields = {f: getattr(base, f) for f in ClientKeySecret.__slots__}
    return ClientKeySecret(**{**fields, **changes})


def _digest(data: Mapping[str, Any]) -> bytes | str:
    """The key's SHA-256 from ``data`` (base64 values), or what is wrong, never quoting a value."""
    present = [f for f in (KEY_FIELD, DIGEST_FIELD) if f in data]
    if len(present) != 1:
        return f"set exactly one of data {KEY_FIELD!r} (the key) or {DIGEST_FIELD!r} (its hex SHA-256)"
    try:
        value = base64.b64decode(str(data[present[0]]), validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        return f"data {present[0]!r} is not UTF-8 text"
    if present[0] == DIGEST_FIELD:
        if not _HEX64.match(value):
            return f'data {DIGEST_FIELD!r} must be 64 hex digits (printf %s "$KEY" | sha256sum)'
        return bytes.fromhex(value)
    if len(value) < MIN_KEY_LENGTH:
        return f"data {KEY_FIELD!r} must be at least {MIN_KEY_LENGTH} characters"
    return hashlib.sha256(value.encode()).digest()


def _annotation(annotations: Mapping[str, Any], name: str, model: type[M]) -> M | None:
    text = annotations.get(name)
    if not text:
        return None
    try:
        return model.model_validate(yaml_guard.safe_load(str(text)))
    except yaml.YAMLError:
        raise ValueError(f"annotation {name} is not valid YAML") from None
    except ValidationError as e:
        raise ValueError(f"annotation {name}: {describe_error(e)}") from None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What became of one Secret: delivered or not, and the Event that says so."""

    secret: ClientKeySecret
    reason: Reason
    message: str

    @property
    def delivered(self) -> bool:
        return self.reason in ("ClientKeyAccepted", "UnknownProfile")

    @property
    def type(self) -> Literal["Normal", "Warning"]:
        return "Normal" if self.reason == "ClientKeyAccepted" else "Warning"


@dataclass(frozen=True)
class Plan:
    documents: Mapping[str, str] = field(default_factory=dict)  # namespace -> keys document (JSON)
    verdicts: tuple[Verdict, ...] = ()


def grants(secret: ClientKeySecret) -> tuple[str, ...] | str:
    """Profile patterns qualified with the Secret's namespace, or why one reaches outside it."""
    qualified = []
    for pattern in secret.profiles:
        namespace, slash, name = pattern.rpartition("/")
        if slash and namespace != secret.namespace:
            return f"profile {pattern!r} is not in namespace {secret.namespace!r}: a key grants its own namespace only"
        if not name or "/" in name:
            return f"profile {pattern!r} is not a RoutingProfile name"
        qualified.append(object_key(secret.namespace, name))
    return tuple(dict.fromkeys(qualified))


def plan(
    secrets: Iterable[ClientKeySecret],
    profiles: Mapping[str, Collection[str]],
    *,
    max_per_namespace: int = MAX_KEYS_PER_NAMESPACE,
) -> Plan:
    """Every Secret's verdict and every namespace's keys document; ``profiles``: namespace -> profile names.

    Refused, never widened: a Secret that is broken, names another namespace's
    profile, holds a key an older Secret already holds (in any namespace: a
    tenant must not capture another's requests), or exceeds the namespace's
    quota. A profile that does not exist (yet) is a warning: the grant can only
    ever match a profile of the Secret's own namespace.
    """
    verdicts: list[Verdict] = []
    owner: dict[str, ClientKeySecret] = {}
    counts: dict[str, int] = {}
    delivered: dict[str, list[KeyEntry]] = {}
    for secret in sorted(secrets, key=lambda s: (s.created, s.namespace, s.name)):
        patterns = grants(secret) if secret.problem is None else secret.problem
        if secret.problem is not None:
            verdicts.append(Verdict(secret, "InvalidClientKey", secret.problem))
        elif isinstance(patterns, str):
            verdicts.append(Verdict(secret, "ProfileNotInNamespace", patterns))
        elif secret.digest in owner:
            verdicts.append(Verdict(secret, "DuplicateClientKey", _duplicate(secret, owner[secret.digest or ""])))
        elif counts.get(secret.namespace, 0) >= max_per_namespace:
            message = f"namespace {secret.namespace!r} already has {max_per_namespace} client keys (older ones)"
            verdicts.append(Verdict(secret, "TooManyClientKeys", message))
        else:
            owner[secret.digest or ""] = secret
            counts[secret.namespace] = counts.get(secret.namespace, 0) + 1
            delivered.setdefault(secret.namespace, []).append(_entry(secret, patterns))
            verdicts.append(_accepted(secret, patterns, profiles.get(secret.namespace, ())))
    documents = {ns: _document(entries) for ns, entries in sorted(delivered.items())}
    return Plan(documents, tuple(verdicts))


def _duplicate(secret: ClientKeySecret, first: ClientKeySecret) -> str:
    where = f"Secret {first.name!r}" if first.namespace == secret.namespace else "a Secret of another namespace"
    return f"the same key is already registered by {where}, which is older; this one is refused"


def _entry(secret: ClientKeySecret, patterns: tuple[str, ...]) -> KeyEntry:
    return KeyEntry(
        name=secret.key_name,
        sha256=secret.digest,
        profiles=patterns,
        rate_limit=secret.rate_limit,
        budget=secret.budget,
        description=secret.description,
    )


def _accepted(secret: ClientKeySecret, patterns: tuple[str, ...], existing: Collection[str]) -> Verdict:
    names = ", ".join(patterns)
    unknown = [p for p in secret.profiles if not _GLOB.search(p) and p.rpartition("/")[2] not in existing]
    if unknown:
        missing = ", ".join(repr(p) for p in unknown)
        where = f"namespace {secret.namespace!r}"
        message = f"delivered (profiles {names}); {missing} not in {where} (no access until created)"
        return Verdict(secret, "UnknownProfile", message)
    return Verdict(secret, "ClientKeyAccepted", f"delivered to the proxies as {secret.key_name!r} (profiles {names})")


def _document(entries: list[KeyEntry]) -> str:
    doc = KeyDocument(keys=tuple(sorted(entries, key=lambda e: e.name)))
    return json.dumps(doc.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True)


def scope_violation(document: KeyDocument, namespace: str) -> str | None:
    """The first entry of a delivered document that reaches outside ``namespace`` or carries a key; None if none."""
    if len(document.keys) > MAX_KEYS_PER_NAMESPACE:
        return f"{len(document.keys)} keys, more than {MAX_KEYS_PER_NAMESPACE}"
    prefix = f"{namespace}/"
    for i, entry in enumerate(document.keys):
        if entry.key is not None:
            return f"keys[{i}]: a plaintext key (only digests are delivered)"
        if not entry.name.startswith(prefix):
            return f"keys[{i}].name: {entry.name!r} is not in namespace {namespace!r}"
        for pattern in entry.profiles:
            if not pattern.startswith(prefix) or "/" in pattern.removeprefix(prefix):
                return f"keys[{i}].profiles: {pattern!r} is not in namespace {namespace!r}"
    return None
