"""The ``<namespace>/<name>`` key of a provider, a profile or a Service.

Both sides agree on it: the operator writes it into the rendered ConfigMap's
profile annotation; the proxy keys providers and profiles by it in its config,
status writes, Events, metrics labels and explain output. Objects of a
standalone config have no namespace; their key is the bare name.
Namespaces are DNS labels, so the key never holds a second ``/``.
"""


def object_key(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str, str]:
    """``(namespace, name)`` of a key; the namespace is ``""`` for a standalone object."""
    namespace, _, name = key.rpartition("/")
    return namespace, name
