"""The operator's side of Service-backed providers: the Service port is resolved, or ResolvedRefs says why not."""

from typing import Any

from switchboard.api.config import load_config
from switchboard.operator import index
from switchboard.operator.conditions import provider_verdicts
from switchboard.operator.render import Rendered, RenderFailure, RenderInputs, render

PROVIDER = {
    "metadata": {"name": "local", "namespace": "ml"},
    "spec": {"type": "openai-compatible", "service": {"name": "vllm", "port": 80}, "models": [{"name": "m"}]},
}
PROFILE = {
    "metadata": {"name": "chat", "namespace": "ml", "uid": "u"},
    "spec": {"models": ["m"], "providers": [{"name": "local"}]},
}
SERVICE = {
    "metadata": {"name": "vllm", "namespace": "ml"},
    "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8000}, {"name": "metrics", "port": 9000}]},
}


def rendered(services: dict[str, Any], port: object = 80) -> Rendered | RenderFailure:
    provider = {**PROVIDER, "spec": {**PROVIDER["spec"], "service": {"name": "vllm", "port": port}}}
    return render(RenderInputs(PROFILE, {"local": provider}, {}, services=services))


def test_the_service_port_number_is_rendered_as_the_slices_port_name() -> None:
    services = index.service_ports(SERVICE)["ml"]
    result = rendered({services[0]: services[1]})
    assert isinstance(result, Rendered)
    config = load_config(result.config_map["data"]["config.yaml"])
    provider = config.providers[0]
    assert provider.service is not None and provider.service.port == 80
    assert provider.service_port_name == "http"
    assert "endpointPicking" not in result.config_map["data"]["config.yaml"]  # defaults stay implicit


def test_a_port_given_by_name_and_an_unnamed_single_port() -> None:
    result = rendered({"vllm": (("http", 80),)}, port="http")
    assert isinstance(result, Rendered) and result.config.providers[0].service_port_name == "http"
    result = rendered({"vllm": (("", 8000),)}, port=8000)
    assert isinstance(result, Rendered) and result.config.providers[0].service_port_name == ""


def test_a_missing_service_or_port_fails_the_render_with_a_ref_reason() -> None:
    missing = rendered({})
    assert isinstance(missing, RenderFailure) and missing.reason == "ServiceNotFound"
    assert "Service ml/vllm does not exist" in missing.message
    wrong = rendered({"vllm": (("http", 80),)}, port=81)
    assert isinstance(wrong, RenderFailure) and wrong.reason == "ServicePortNotFound"


def test_provider_resolved_refs_names_the_service() -> None:
    ready, refs, _ = provider_verdicts(PROVIDER, {}, [], services={})
    assert (ready.status, refs.status, refs.reason) == ("False", "False", "ServiceNotFound")
    ready, refs, _ = provider_verdicts(PROVIDER, {}, [], services={"vllm": (("http", 80),)})
    assert (ready.status, refs.status) == ("True", "True") and "Service vllm found" in refs.message


def test_dependency_index_maps_a_service_to_its_providers() -> None:
    assert index.provider_service(PROVIDER) == {("ml", "vllm"): "local"}
    assert index.service_ports({**SERVICE, "spec": {"ports": [{"port": 53, "protocol": "UDP"}]}}) == {
        "ml": ("vllm", ())
    }
