"""The ProxyConfig contract: what loads, what is refused, and how it says why."""

import pytest

from switchboard.api.config import ConfigError, Fleet, ProxyConfig, load_config, merge_configs

MINIMAL = """
providers:
  - name: primary
    type: openai
    baseUrl: http://127.0.0.1:9/v1
    apiKey: {env: PRIMARY_KEY}
    models: [{name: gpt-4o-mini, pricing: {inputPerMillion: 0.15, outputPerMillion: 0.6}}]
  - name: local
    type: openai-compatible
    baseUrl: http://127.0.0.1:10/v1
    models: [{name: gpt-4o-mini, upstreamName: llama3}]
profiles:
  - name: default
    models: [gpt-4o-mini]
    strategy: weighted
    providers: [{name: primary, weight: 3}, {name: local}]
"""


def test_minimal_config_loads_with_defaults() -> None:
    config = load_config(MINIMAL)
    assert [p.key for p in config.providers] == ["primary", "local"]
    assert config.providers[1].models[0].upstream == "llama3"
    assert config.profiles[0].retry.max_retries == 3
    assert config.profiles[0].latency.ema_alpha == 0.3
    assert config.served_models() == ["gpt-4o-mini"]


def test_round_trip_through_wire_form_is_lossless() -> None:
    config = load_config(MINIMAL)
    assert ProxyConfig.model_validate(config.to_wire()) == config


def test_wire_form_never_carries_a_key_only_its_reference() -> None:
    wire = load_config(MINIMAL).to_wire()
    assert wire["providers"][0]["apiKey"] == {"env": "PRIMARY_KEY"}  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("providers: [", "not valid YAML"),
        ("- a list", "config must be a mapping"),
        ("profiles: [{name: p, models: [m], providers: [{name: ghost}]}]", "unknown provider 'ghost'"),
        (
            "profiles: [{name: p, models: [m], strategy: fastest, providers: [{name: x}]}]",
            "profiles[0].strategy: Input should be 'failover'",
        ),
        (
            "providers: [{name: a, type: azure-openai, baseUrl: 'http://h', models: [{name: m}]}]",
            "apiVersion is required",
        ),
        ("providers: [{name: a, type: openai-compatible, models: [{name: m}]}]", "baseUrl is required"),
        ("providers: [{name: a, type: openai, models: []}]", "providers[0].models: Tuple should have at least 1 item"),
        ("providers: [{name: a, type: openai, weight: -1, models: [{name: m}]}]", "providers[0].weight"),
        ("providers: [{name: a, type: openai, models: [{name: m}], colour: red}]", "providers[0].colour: Extra inputs"),
        ("providers: [{name: a, type: openai, models: [{name: m}, {name: m}]}]", "models[].name must be unique"),
        (
            "providers: [{name: a, type: openai, models: [{name: m}], apiKey: {env: A, file: /k}}]",
            "set exactly one of env, file or secret",
        ),
    ],
)
def test_invalid_config_names_the_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(text)
    assert message in str(info.value)


def test_profile_model_override_must_exist_on_the_provider() -> None:
    text = MINIMAL.replace("{name: local}", "{name: local, model: gpt-5}")
    with pytest.raises(ConfigError, match="provider 'local' has no model 'gpt-5'"):
        load_config(text)


def test_merge_unions_profiles_and_dedupes_shared_providers() -> None:
    base = load_config(MINIMAL)
    other = base.model_copy(
        update={"profiles": (base.profiles[0].model_copy(update={"name": "second"}),), "fleet": Fleet(replicas=3)}
    )
    merged = merge_configs([base, ProxyConfig.model_validate(other.to_wire())])
    assert [p.key for p in merged.profiles] == ["default", "second"]
    assert [p.key for p in merged.providers] == ["local", "primary"]
    assert merged.fleet.replicas == 3
