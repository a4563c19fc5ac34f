"""Team client keys, the pure parts: what a labelled Secret is worth, what reaches the proxies, what they accept."""

import base64
import hashlib
import json
from typing import Any

import pytest

from switchboard.api.clientkeys import (
    BUDGET_ANNOTATION,
    DESCRIPTION_ANNOTATION,
    PROFILES_ANNOTATION,
    RATE_LIMIT_ANNOTATION,
    ClientKeySecret,
    delivered_namespace,
    delivery_key,
    plan,
    read_secret,
)
from switchboard.api.keys import KeyFileError
from switchboard.api.status import credential_key
from switchboard.proxy.auth import CombinedKeys, KeyStore, merge_stores, parse_key_file
from switchboard.proxy.kube.team_keys import TeamKeys, parse_delivered, split_delivered

KEY = "sk-team-a-0123456789abcdef"


def secret(ns: str = "team-a", name: str = "ci", created: str = "2026-01-01T00:00:00Z", **data: str) -> dict[str, Any]:
    annotations = {PROFILES_ANNOTATION: data.pop("profiles", "default")}
    annotations |= {k: data.pop(k) for k in list(data) if k.startswith("switchboard.dev/")}
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    meta = {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}", "creationTimestamp": created}
    return {"metadata": {**meta, "annotations": annotations}, "data": encoded}


def read(**kwargs: Any) -> ClientKeySecret:
    return read_secret(secret(**kwargs))


def test_a_secret_keeps_only_the_digest_of_its_key() -> None:
    by_key = read(key=KEY)
    by_digest = read(sha256=hashlib.sha256(KEY.encode()).hexdigest().upper())
    assert by_key.digest == by_digest.digest == hashlib.sha256(KEY.encode()).hexdigest()
    assert by_key.problem is None and KEY not in repr(by_key)
    assert by_key.key_name == "team-a/ci"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "set exactly one of data 'key'"),
        ({"key": KEY, "sha256": "ab" * 32}, "set exactly one"),
        ({"sha256": "not-hex"}, "64 hex digits"),
        ({"key": "short"}, "at least 16 characters"),
        ({"key": KEY, "profiles": " , "}, f"annotation {PROFILES_ANNOTATION} is required"),
        ({"key": KEY, RATE_LIMIT_ANNOTATION: "{requestsPerMinute: 0}"}, "requestsPerMinute"),
        ({"key": KEY, BUDGET_ANNOTATION: "{limitUsd: [}"}, "not valid YAML"),
    ],
)
def test_an_unusable_secret_says_why_without_quoting_a_value(data: dict[str, str], problem: str) -> None:
    found = read(**data)
    assert found.problem is not None and problem in found.problem and found.digest is None
    verdict = plan([found], {}).verdicts[0]
    assert (verdict.reason, verdict.type, verdict.delivered) == ("InvalidClientKey", "Warning", False)


def test_settings_travel_with_the_digest_and_the_document_round_trips_in_the_proxy() -> None:
    found = read(
        key=KEY,
        profiles="default, chat-*",
        **{
            RATE_LIMIT_ANNOTATION: "{requestsPerMinute: 60}",
            BUDGET_ANNOTATION: '{"period": "day", "limitUsd": 5}',
            DESCRIPTION_ANNOTATION: "CI pipeline",
        },
    )
    result = plan([found], {"team-a": {"default"}})
    [verdict] = result.verdicts
    assert verdict.reason == "ClientKeyAccepted" and "team-a/default, team-a/chat-*" in verdict.message
    document = result.documents["team-a"]
    assert KEY not in document
    [entry] = json.loads(document)["keys"]
    assert entry == {
        "name": "team-a/ci",
        "sha256": found.digest,
        "profiles": ["team-a/default", "team-a/chat-*"],
        "rateLimit": {"requestsPerMinute": 60},
        "budget": {"period": "day", "limitUsd": 5.0, "softPercent": 80.0, "softAction": "notify"},
        "description": "CI pipeline",
    }
    client = parse_delivered("team-a", document).authenticate(KEY)
    assert client is not None and client.namespace == "team-a" and client.name == "team-a/ci"
    assert client.may_use("team-a/default") and client.may_use("team-a/chat-2")
    assert not client.may_use("team-b/default") and not client.may_use("team-a/other")
    assert client.rate_limit is not None and client.rate_limit.requests_per_minute == 60


@pytest.mark.parametrize("profiles", ["team-b/default", "default, team-b/default", "*/default", "team-a/x/y"])
def test_a_grant_outside_the_namespace_refuses_the_whole_key(profiles: str) -> None:
    [verdict] = plan([read(key=KEY, profiles=profiles)], {"team-a": {"default"}, "team-b": {"default"}}).verdicts
    assert verdict.reason in ("ProfileNotInNamespace",) and not verdict.delivered
    assert plan([read(key=KEY, profiles=profiles)], {}).documents == {}


def test_the_own_namespace_may_be_spelled_out_and_unknown_profiles_warn_but_grant_nothing_else() -> None:
    result = plan([read(key=KEY, profiles="team-a/default, later")], {"team-a": {"default"}})
    [verdict] = result.verdicts
    assert (verdict.reason, verdict.type, verdict.delivered) == ("UnknownProfile", "Warning", True)
    assert "'later' not in namespace 'team-a'" in verdict.message
    assert json.loads(result.documents["team-a"])["keys"][0]["profiles"] == ["team-a/default", "team-a/later"]


def test_the_same_key_in_two_secrets_serves_only_the_older_one_and_never_names_another_namespace() -> None:
    older = read(ns="team-b", name="app", created="2026-01-01T00:00:00Z", key=KEY)
    thief = read(ns="team-a", name="copy", created="2026-02-01T00:00:00Z", key=KEY)
    twin = read(ns="team-b", name="twin", created="2026-03-01T00:00:00Z", key=KEY)
    result = plan([thief, twin, older], {})
    verdicts = {v.secret.key_name: v for v in result.verdicts}
    assert verdicts["team-b/app"].delivered
    assert verdicts["team-a/copy"].reason == "DuplicateClientKey"
    assert "another namespace" in verdicts["team-a/copy"].message and "team-b" not in verdicts["team-a/copy"].message
    assert "Secret 'app'" in verdicts["team-b/twin"].message
    assert list(result.documents) == ["team-b"]


def test_a_namespace_gets_at_most_its_quota_of_keys_oldest_first() -> None:
    secrets = [read(name=f"k{i}", created=f"2026-01-01T00:00:{i:02d}Z", key=f"{KEY}-{i}") for i in range(5)]
    result = plan(secrets, {"team-a": {"default"}}, max_per_namespace=3)
    assert [v.reason for v in result.verdicts] == ["ClientKeyAccepted"] * 3 + ["TooManyClientKeys"] * 2
    assert len(json.loads(result.documents["team-a"])["keys"]) == 3


def test_delivery_keys_never_collide_with_provider_keys() -> None:
    assert delivered_namespace(delivery_key("team-a")) == "team-a"
    assert delivered_namespace(credential_key("client-keys", "team-a")) is None
    providers, documents = split_delivered({"team-a.openai": "sk-up", delivery_key("team-a"): "{}"})
    assert providers == {"team-a.openai": "sk-up"} and documents == {"team-a": "{}"}


def _document(name: str, profiles: list[str], **extra: str) -> str:
    entry = {"name": name, "profiles": profiles, **extra}
    entry.setdefault("sha256", hashlib.sha256(KEY.encode()).hexdigest())
    return json.dumps({"keys": [entry]})


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (_document("team-b/x", ["team-a/default"]), "is not in namespace 'team-a'"),
        (_document("team-a/x", ["team-b/default"]), "'team-b/default' is not in namespace"),
        (_document("team-a/x", ["*"]), "'*' is not in namespace"),
        (_document("team-a/x", ["team-a/x/../y"]), "is not in namespace"),
        (json.dumps({"keys": [{"name": "team-a/x", "key": KEY, "profiles": ["team-a/d"]}]}), "plaintext"),
    ],
)
def test_the_proxy_refuses_a_delivered_document_that_reaches_outside_its_namespace(document: str, problem: str) -> None:
    with pytest.raises(KeyFileError, match="refused") as caught:
        parse_delivered("team-a", document)
    assert problem in str(caught.value) and KEY not in str(caught.value)


def test_team_keys_keep_a_namespace_s_last_good_keys_and_drop_a_key_two_namespaces_hold() -> None:
    keys = TeamKeys()
    good = _document("team-a/ci", ["team-a/default"])
    assert keys.update({"team-a": good})
    assert keys.current().authenticate(KEY) is not None
    assert keys.update({"team-a": "keys: [broken"})  # a broken edit: the last good keys stay
    assert keys.current().authenticate(KEY) is not None
    assert not keys.update({"team-a": "keys: [broken"})
    keys.update({"team-a": good, "team-b": _document("team-b/ci", ["team-b/default"])})
    assert keys.current().authenticate(KEY) is None  # the same key for two namespaces serves neither
    keys.update({})
    assert len(keys.current()) == 0


def test_the_keys_file_wins_every_collision_with_a_team_key() -> None:
    admin = parse_key_file(f"keys:\n  - name: team-a/ci\n    key: {KEY}-admin\n    profiles: ['*']\n")
    teams = parse_delivered("team-a", _document("team-a/ci", ["team-a/default"]))
    merged = merge_stores(admin, teams)
    assert merged.authenticate(KEY) is None  # same name as an admin key: the team key is left out
    client = merged.authenticate(f"{KEY}-admin")
    assert client is not None and client.namespace is None and client.may_use("team-b/x")
    assert len(merge_stores(admin, KeyStore.empty())) == 1


def test_combined_keys_follow_either_source_and_auth_without_a_file_uses_team_keys_alone() -> None:
    teams = TeamKeys()
    combined = CombinedKeys(None, teams.current)
    assert combined.current().authenticate(KEY) is None
    teams.update({"team-a": _document("team-a/ci", ["team-a/default"])})
    assert combined.current().authenticate(KEY) is not None
    empty = KeyStore.empty()
    assert CombinedKeys(lambda: empty, teams.current).current().authenticate(KEY) is not None
