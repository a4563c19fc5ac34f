"""The chart's state-store option: a deployed Redis or an external URL, passed to every proxy."""

from tests.fixtures.helm import ALL_ON_VALUES, Render, find
from tests.helm.test_render import container, env


def test_a_deployed_store_is_wired_to_the_proxies_with_its_password(helm_template: Render) -> None:
    manifests = helm_template("-f", str(ALL_ON_VALUES))
    proxy = env(container(find(manifests, "Deployment", "sb-proxy")))
    assert proxy["SWITCHBOARD_STATE_STORE"] == "redis://sb-state-store:6379/0"
    password = {"secretKeyRef": {"name": "switchboard-state-store", "key": "password"}}
    assert proxy["SWITCHBOARD_STATE_STORE_PASSWORD"] == password
    redis = container(find(manifests, "Deployment", "sb-state-store"))
    assert redis["args"][-2:] == ["--requirepass", "$(REDIS_PASSWORD)"]
    assert env(redis)["REDIS_PASSWORD"] == password
    assert find(manifests, "Service", "sb-state-store")["spec"]["ports"][0]["port"] == 6379
    policy = find(manifests, "NetworkPolicy", "sb-state-store")
    assert (
        policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "proxy"
    )


def test_an_external_store_is_passed_by_url_and_off_means_nothing(helm_template: Render) -> None:
    external = helm_template("--set", "stateStore.enabled=true", "--set", "stateStore.url=rediss://cache:6380/0")
    proxy = env(container(find(external, "Deployment", "sb-proxy")))
    assert proxy["SWITCHBOARD_STATE_STORE"] == "rediss://cache:6380/0"
    assert "SWITCHBOARD_STATE_STORE_PASSWORD" not in proxy
    assert not [m for m in external if "state-store" in m["metadata"]["name"]]
    default = env(container(find(helm_template(), "Deployment", "sb-proxy")))
    assert "SWITCHBOARD_STATE_STORE" not in default
