"""The operator's few writes to Kubernetes, as a thin shell over kubernetes_asyncio.

Bodies are plain dicts (what the pure renderer produces); the generated client
accepts them at run time, so the typed API objects are held as ``Any`` here and
nowhere else. Every patch is a JSON merge patch on fields the operator owns.
"""

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes_asyncio import client

from switchboard.api.base import API_GROUP, API_VERSION
from switchboard.api.clientkeys import delivered_namespace, delivery_key
from switchboard.api.kube_client import MERGE_PATCH
from switchboard.api.provider import SecretKeyRef, granted_providers, secret_grants
from switchboard.api.status import CONFIG_HASH_ANNOTATION, RENDERED_LABEL, credential_key

logger = logging.getLogger(__name__)


class SourceKeyMissing(LookupError):
    """A referenced Secret or key vanished (or withdrew its opt-in) between the index and the read."""


class SourceNotAllowed(SourceKeyMissing):
    """The Secret as read does not (or no longer) opt in for the provider."""


class CredentialsSecretMissing(LookupError):
    """The credentials Secret does not exist; the chart creates it and the operator may not."""


class Kube(Protocol):
    """The Kubernetes calls the reconcilers need, nothing more.

    ``KubeClient`` makes them against the API server; the reconcilers' fast tests
    use an in-memory one checked against this Protocol.
    """

    @property
    def release_namespace(self) -> str: ...

    async def apply_config_map(self, manifest: Mapping[str, Any]) -> bool: ...

    async def delete_config_map(self, name: str) -> bool: ...

    async def rendered_config_maps(self) -> list[tuple[str, dict[str, str]]]: ...

    async def profile_exists(self, namespace: str, name: str) -> bool: ...

    async def copy_credentials(self, namespace: str, wanted: Mapping[str, SecretKeyRef]) -> bool: ...

    async def deliver_client_keys(
        self, documents: Mapping[str, str], namespaces: tuple[str, ...] = ()
    ) -> list[str]: ...

    async def remove_credential(self, key: str) -> None: ...

    async def create_event(self, namespace: str, body: Mapping[str, Any]) -> None: ...

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: Mapping[str, Any], resource_version: str | None = None
    ) -> None: ...

    async def read_status(self, plural: str, namespace: str, name: str) -> tuple[str, dict[str, Any]]: ...


@dataclass
class KubeClient:
    """``Kube`` over kubernetes_asyncio."""

    api: client.ApiClient
    release_namespace: str
    credentials_secret: str

    @property
    def _core(self) -> Any:
        return client.CoreV1Api(self.api)

    @property
    def _custom(self) -> Any:
        return client.CustomObjectsApi(self.api)

    async def apply_config_map(self, manifest: Mapping[str, Any]) -> bool:
        """Create or replace the rendered ConfigMap; True if anything was written.

        Writes only when the content hash differs, so a resync is read-only.
        """
        meta = manifest["metadata"]
        try:
            current = await self._core.read_namespaced_config_map(meta["name"], meta["namespace"])
        except client.ApiException as e:
            if e.status != 404:
                raise
            await self._core.create_namespaced_config_map(meta["namespace"], dict(manifest))
            return True
        annotations = current.metadata.annotations or {}
        if annotations.get(CONFIG_HASH_ANNOTATION) == meta["annotations"][CONFIG_HASH_ANNOTATION]:
            return False
        body = {**manifest, "metadata": {**meta, "resourceVersion": current.metadata.resource_version}}
        await self._core.replace_namespaced_config_map(meta["name"], meta["namespace"], body)
        return True

    async def delete_config_map(self, name: str) -> bool:
        """Delete a rendered ConfigMap of the release namespace; False if it was already gone."""
        try:
            await self._core.delete_namespaced_config_map(name, self.release_namespace)
        except client.ApiException as e:
            if e.status == 404:
                return False
            raise
        return True

    async def rendered_config_maps(self) -> list[tuple[str, dict[str, str]]]:
        """(name, annotations) of every rendered ConfigMap in the release namespace."""
        listed = await self._core.list_namespaced_config_map(
            self.release_namespace, label_selector=f"{RENDERED_LABEL}=true"
        )
        return [(item.metadata.name, dict(item.metadata.annotations or {})) for item in listed.items]

    async def profile_exists(self, namespace: str, name: str) -> bool:
        """Asked of the API server itself (not a cache) before anything is deleted."""
        try:
            await self._custom.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, "routingprofiles", name)
        except client.ApiException as e:
            if e.status == 404:
                return False
            raise
        return True

    async def copy_credentials(self, namespace: str, wanted: Mapping[str, SecretKeyRef]) -> bool:
        """Copy each provider's source key (Secrets of ``namespace``) into the credentials Secret.

        ``wanted`` maps provider names to their refs. The opt-in is checked again on the
        Secret as read. Values are base64 strings moved as-is, never decoded or logged.
        True if written.
        """
        if not wanted:
            return False
        values = {
            credential_key(namespace, provider): await self._read_key(namespace, provider, ref)
            for provider, ref in sorted(wanted.items())
        }
        existing = await self._credentials_data()
        if all(existing.get(k) == v for k, v in values.items()):
            return False
        await self._core.patch_namespaced_secret(
            self.credentials_secret, self.release_namespace, {"data": values}, _content_type=MERGE_PATCH
        )
        logger.info("credentials Secret updated with key(s) %s", ", ".join(sorted(values)))
        return True

    async def _credentials_data(self) -> dict[str, str]:
        """The credentials Secret's data; it must exist (the chart creates it, the operator only updates it)."""
        try:
            current = await self._core.read_namespaced_secret(self.credentials_secret, self.release_namespace)
        except client.ApiException as e:
            if e.status != 404:
                raise
            raise CredentialsSecretMissing(
                f"Secret {self.release_namespace}/{self.credentials_secret} does not exist "
                "(the Helm chart creates it; the operator may only update it)"
            ) from None
        return dict(current.data or {})

    async def deliver_client_keys(self, documents: Mapping[str, str], namespaces: tuple[str, ...] = ()) -> list[str]:
        """Make the credentials Secret hold exactly ``documents`` (namespace -> keys document) as client keys.

        Documents of other namespaces are removed, unless ``namespaces`` (the watched
        ones; empty: all) leaves them out of this operator's reach. Returns the changed
        namespaces. The documents hold digests only; nothing here logs a value.
        """
        existing = await self._credentials_data()
        wanted: dict[str, str | None] = {
            delivery_key(ns): base64.b64encode(text.encode()).decode() for ns, text in documents.items()
        }
        for key in existing:
            namespace = delivered_namespace(key)
            if namespace is not None and namespace not in documents and (not namespaces or namespace in namespaces):
                wanted[key] = None
        changes = {k: v for k, v in wanted.items() if existing.get(k) != v}
        changed = sorted(ns for k in changes if (ns := delivered_namespace(k)) is not None)
        if changes:
            await self._core.patch_namespaced_secret(
                self.credentials_secret, self.release_namespace, {"data": changes}, _content_type=MERGE_PATCH
            )
            logger.info("credentials Secret: client keys of namespace(s) %s updated", ", ".join(changed))
        return changed

    async def remove_credential(self, key: str) -> None:
        """Drop one provider's key from the credentials Secret (no-op if absent)."""
        try:
            current = await self._core.read_namespaced_secret(self.credentials_secret, self.release_namespace)
        except client.ApiException as e:
            if e.status == 404:
                return
            raise
        if key not in (current.data or {}):
            return
        await self._core.patch_namespaced_secret(
            self.credentials_secret, self.release_namespace, {"data": {key: None}}, _content_type=MERGE_PATCH
        )
        logger.info("credentials Secret: removed key %s", key)

    async def _read_key(self, namespace: str, provider: str, ref: SecretKeyRef) -> str:
        try:
            secret = await self._core.read_namespaced_secret(ref.name, namespace)
        except client.ApiException as e:
            if e.status == 404:
                raise SourceKeyMissing(f"Secret {namespace}/{ref.name} does not exist") from None
            raise
        if not secret_grants(granted_providers(secret.metadata.annotations), provider):
            raise SourceNotAllowed(f"Secret {namespace}/{ref.name} does not allow LLMProvider {provider}")
        value = (secret.data or {}).get(ref.key)
        if value is None:
            raise SourceKeyMissing(f"Secret {namespace}/{ref.name} has no key {ref.key!r}")
        return str(value)

    async def create_event(self, namespace: str, body: Mapping[str, Any]) -> None:
        await self._core.create_namespaced_event(namespace, dict(body))

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: Mapping[str, Any], resource_version: str | None = None
    ) -> None:
        """Merge-patch status; with ``resource_version``, only if nobody wrote meanwhile (else 409)."""
        body: dict[str, Any] = {"status": dict(status)}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        await self._custom.patch_namespaced_custom_object_status(
            API_GROUP, API_VERSION, namespace, plural, name, body, _content_type=MERGE_PATCH
        )

    async def read_status(self, plural: str, namespace: str, name: str) -> tuple[str, dict[str, Any]]:
        """(resourceVersion, status) of a custom resource, fresh from the API server."""
        obj = await self._custom.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural, name)
        return str(obj["metadata"]["resourceVersion"]), dict(obj.get("status") or {})
