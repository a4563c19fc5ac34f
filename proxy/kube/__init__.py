"""Cluster mode of the proxy: config and credentials from the API server, status pushed back."""

from switchboard.proxy.kube.credentials import CredentialError, CredentialStore
from switchboard.proxy.kube.run import ClusterMode
from switchboard.proxy.kube.runtime_view import ClusterRuntime
from switchboard.proxy.kube.settings import ClusterSettings
from switchboard.proxy.kube.source import KubernetesSource, add_arguments, create_source

__all__ = [
    "ClusterMode",
    "ClusterRuntime",
    "ClusterSettings",
    "CredentialError",
    "CredentialStore",
    "KubernetesSource",
    "add_arguments",
    "create_source",
]
