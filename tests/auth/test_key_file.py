"""The keys file: parsing, validation errors that never echo a key, lookup by digest, reloads."""

import hashlib
import logging
import os
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.proxy.auth import Client, KeyFileError, KeyFileSource, hash_key, load_key_file, parse_key_file

PLAIN = "sk-team-a-0123456789abcdef"
HASHED = "sk-team-b-fedcba9876543210"
HASHED_HEX = hashlib.sha256(HASHED.encode()).hexdigest()

GOOD = f"""
keys:
  - name: team-a
    key: {PLAIN}
    profiles: [team-a/*]
  - name: team-b
    sha256: {HASHED_HEX.upper()}
    profiles: [prod/chat, prod/embed]
"""


def test_plaintext_and_hashed_keys_authenticate() -> None:
    store = parse_key_file(GOOD)
    assert len(store) == 2
    assert store.authenticate(PLAIN) == Client("team-a", ("team-a/*",))
    assert store.authenticate(HASHED) == Client("team-b", ("prod/chat", "prod/embed"))


@pytest.mark.parametrize("wrong", ["", "sk-team-a", PLAIN + " ", PLAIN.upper(), HASHED_HEX])
def test_wrong_keys_are_refused(wrong: str) -> None:
    assert parse_key_file(GOOD).authenticate(wrong) is None


def test_only_digests_are_kept_in_memory() -> None:
    store = parse_key_file(GOOD)
    assert PLAIN not in repr(store)
    assert [e.digest for e in store.entries] == [hash_key(PLAIN), bytes.fromhex(HASHED_HEX)]


@pytest.mark.parametrize(
    ("profiles", "profile", "allowed"),
    [
        (("*",), "any/thing", True),
        (("team-a/*",), "team-a/chat", True),
        (("team-a/*",), "team-b/chat", False),
        (("prod/chat",), "prod/chat", True),
        (("prod/chat",), "prod/chat2", False),
        (("chat",), "chat", True),
        (("chat",), "default/chat", False),
    ],
)
def test_profile_patterns(profiles: tuple[str, ...], profile: str, allowed: bool) -> None:
    assert Client("c", profiles).may_use(profile) is allowed


glob_text = st.text(alphabet="ab/-*?[]!.\\\n", max_size=6)


@settings(max_examples=400, deadline=None)
@given(st.lists(glob_text, max_size=4), glob_text)
def test_compiled_profile_patterns_match_like_fnmatchcase(patterns: list[str], profile: str) -> None:
    """One compiled alternation answers as a loop of ``fnmatchcase`` over the patterns would."""
    expected = any(fnmatchcase(profile, pattern) for pattern in patterns)
    assert Client("c", tuple(patterns)).may_use(profile) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("keys: [", "not valid YAML at line"),
        ("[]", "invalid keys file"),
        ("keys: []\nextra: 1", "extra: Extra inputs are not permitted"),
        ("keys: [{name: a, profiles: ['*']}]", "set exactly one of 'key'"),
        (f"keys: [{{name: a, key: {PLAIN}, sha256: {HASHED_HEX}, profiles: ['*']}}]", "set exactly one of 'key'"),
        (f"keys: [{{name: a, key: {PLAIN}, profiles: []}}]", "keys[0].profiles"),
        (f"keys: [{{name: a, key: {PLAIN}, profiles: ['  ']}}]", "profile patterns must be non-empty"),
        (f"keys: [{{name: a, key: {PLAIN}}}]", "keys[0].profiles: Field required"),
        ("keys: [{name: a, sha256: abc, profiles: ['*']}]", "keys[0].sha256"),
        ("keys: [{name: a, key: short-key, profiles: ['*']}]", "keys[0].key"),
        (f"keys: [{{name: 'a b', key: {PLAIN}, profiles: ['*']}}]", "keys[0].name"),
        (
            f"keys: [{{name: a, key: {PLAIN}, profiles: ['*']}}, {{name: a, sha256: {HASHED_HEX}, profiles: ['*']}}]",
            "keys[1].name: duplicate name 'a'",
        ),
        (
            f"keys: [{{name: a, key: {PLAIN}, profiles: ['*']}}, {{name: b, key: {PLAIN}, profiles: ['*']}}]",
            "keys[1]: same key as 'a'",
        ),
    ],
)
def test_bad_files_get_specific_errors_without_the_key(text: str, message: str) -> None:
    with pytest.raises(KeyFileError) as info:
        parse_key_file(text)
    assert message in str(info.value)
    assert PLAIN not in str(info.value)
    assert "short-key" not in str(info.value)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read keys file"):
        load_key_file(tmp_path / "absent.yaml")
    binary = tmp_path / "keys.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(KeyFileError, match="not UTF-8"):
        load_key_file(binary)


def _replace(path: Path, text: str) -> None:
    """Swap the file the way a Secret volume does: a new inode renamed into place."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_source_reloads_and_keeps_last_good_store(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(GOOD)
    source = KeyFileSource(path)
    assert source.current().authenticate(PLAIN) is not None

    rotated = "sk-rotated-key-000000000000"
    _replace(path, f"keys: [{{name: team-a, key: {rotated}, profiles: ['*']}}]")
    assert source.current().authenticate(PLAIN) is None
    assert source.current().authenticate(rotated) == Client("team-a", ("*",))

    caplog.set_level(logging.INFO)
    _replace(path, f"keys: [{{name: x, key: {PLAIN}}}]")  # broken: no profiles
    assert source.current().authenticate(rotated) is not None
    assert "keeping the previous client API keys" in caplog.text
    assert PLAIN not in caplog.text and rotated not in caplog.text

    path.unlink()
    assert source.current().authenticate(rotated) is not None


def test_source_needs_a_good_first_load(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        KeyFileSource(tmp_path / "absent.yaml")
