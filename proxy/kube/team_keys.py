"""Team client keys as the operator delivers them: one keys document per namespace in the credentials Secret.

The documents hold digests only (``switchboard.api.clientkeys``). Each is checked
again here: every entry must stay inside the namespace it was delivered for
(its name and every profile pattern), so even a document written by hand into
the credentials Secret cannot grant one namespace's key another's profiles. A
broken or untrusted document is logged and skipped; that namespace's last good
keys keep working. A key delivered for two namespaces serves neither.
"""

import logging
from collections import Counter
from collections.abc import Mapping

from switchboard.api.clientkeys import delivered_namespace, scope_violation
from switchboard.api.keys import KeyFileError, parse_key_document
from switchboard.proxy.auth import KeyStore, build_store

log = logging.getLogger(__name__)


def split_delivered(data: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The credentials Secret's decoded data as (provider keys, namespace -> keys document)."""
    providers: dict[str, str] = {}
    documents: dict[str, str] = {}
    for key, value in data.items():
        namespace = delivered_namespace(key)
        if namespace is None:
            providers[key] = value
        else:
            documents[namespace] = value
    return providers, documents


def parse_delivered(namespace: str, text: str) -> KeyStore:
    """One namespace's keys document as a store; :class:`KeyFileError` when broken or reaching outside it."""
    document = parse_key_document(text, what=f"client keys of namespace {namespace!r}")
    violation = scope_violation(document, namespace)
    if violation is not None:
        raise KeyFileError(f"client keys of namespace {namespace!r} refused: {violation}")
    return build_store(document.keys, namespace)


class TeamKeys:
    """The current team keys of every namespace, as one :class:`KeyStore` (``current``: client auth)."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._stores: dict[str, KeyStore] = {}
        self._store = KeyStore(())

    def current(self) -> KeyStore:
        return self._store

    def update(self, documents: Mapping[str, str]) -> bool:
        """Take the delivered documents (namespace -> text); True when the keys changed."""
        if documents == self._texts:
            return False
        stores = {ns: store for ns, store in self._stores.items() if ns in documents}
        for namespace, text in sorted(documents.items()):
            if self._texts.get(namespace) == text and namespace in stores:
                continue
            try:
                stores[namespace] = parse_delivered(namespace, text)
            except KeyFileError as e:
                log.error("%s; keeping that namespace's previous client keys", e)
        self._texts = dict(documents)
        self._stores = stores
        self._store = _combined(stores)
        log.info("client keys of %d namespace(s): %d keys", len(stores), len(self._store))
        return True


def _combined(stores: Mapping[str, KeyStore]) -> KeyStore:
    """Every namespace's entries, without any key that more than one namespace holds (it would route for both)."""
    entries = [e for _, store in sorted(stores.items()) for e in store.entries]
    seen = Counter(e.digest for e in entries)
    shared = [e for e in entries if seen[e.digest] > 1]
    if shared:
        log.error("refusing %d client key(s) delivered for more than one namespace", len(shared))
    return KeyStore(tuple(e for e in entries if seen[e.digest] == 1))
