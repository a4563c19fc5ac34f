"""Switchboard: a Kubernetes-native LLM routing gateway.

Sub-packages: ``switchboard.api`` (the pydantic contracts shared by every
component), ``switchboard.proxy`` (the aiohttp data plane, source in ``proxy/``)
and ``switchboard.operator`` (the kopf control plane, source in ``operator/``).
"""

__version__ = "0.1.0"
