"""How the operator and the proxy reach the API server: the client set-up and the patch format."""

from kubernetes_asyncio import client, config

MERGE_PATCH = "application/merge-patch+json"
"""Every status and Secret write of both sides is a JSON merge patch on the fields its writer owns."""


async def new_api_client(kubeconfig: str | None) -> client.ApiClient:
    """A client from ``kubeconfig`` when given; else the pod's service account; else the default kubeconfig
    (``$KUBECONFIG`` or ``~/.kube/config``, for running outside a cluster)."""
    configuration = client.Configuration()
    if kubeconfig:
        await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            await config.load_kube_config(client_configuration=configuration)
    return client.ApiClient(configuration)
