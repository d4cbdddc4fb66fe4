"""Settings: flags > environment > TOML profile > defaults, secrets kept out of sight."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tui.config import (
    DEFAULT_URI,
    ConfigError,
    Settings,
    config_path,
    load_settings,
    read_config,
    state_dir,
    write_private,
)
from tui.errors import scrub

CONFIG = {
    "default_profile": "local",
    "profiles": {
        "local": {"uri": "./local_data", "db_name": "scratch"},
        "cloud": {
            "uri": "https://in01-abc.zillizcloud.com",
            "db_name": "prod",
            "token_env": "ZILLIZ_TOKEN",
            "embedding_provider": "openai",
            "embedding_model": "text-embedding-3-small",
            "embedding_dimensions": 512,
            "timeout": 12,
            "colour": "green",  # not a setting: ignored, not an error
        },
        "inline": {"uri": "http://db:19530", "token": "inline-secret-token", "api_key": "sk-inline-key-123"},
    },
}


def test_defaults_with_nothing_configured() -> None:
    settings = load_settings({}, env={}, config={})
    assert settings == Settings()
    assert settings.uri == DEFAULT_URI
    assert settings.db_name == "default"
    assert settings.token is None and settings.api_key is None
    assert settings.profile is None
    assert settings.timeout == 30.0


def test_default_profile_applies_when_none_is_named() -> None:
    settings = load_settings({}, env={}, config=CONFIG)
    assert settings.profile == "local"
    assert settings.uri == "./local_data"
    assert settings.db_name == "scratch"


def test_named_profile_beats_default_profile_and_values_are_typed() -> None:
    settings = load_settings({}, env={"ZILLIZ_TOKEN": "tok-from-env"}, profile="cloud", config=CONFIG)
    assert settings.profile == "cloud"
    assert settings.uri == "https://in01-abc.zillizcloud.com"
    assert settings.db_name == "prod"
    assert settings.token == "tok-from-env"
    assert settings.embedding_provider == "openai"
    assert settings.embedding_dimensions == 512
    assert settings.timeout == 12.0 and isinstance(settings.timeout, float)
    assert not hasattr(settings, "colour")


def test_env_beats_profile_and_flags_beat_env() -> None:
    env = {"MILVUS_URI": "http://env-host:19530", "MILVUS_DB_NAME": "envdb",
           "MILVUS_TUI_EMBEDDING_DIMENSIONS": "384"}
    from_env = load_settings({}, env=env, profile="cloud", config=CONFIG)
    assert from_env.uri == "http://env-host:19530"
    assert from_env.db_name == "envdb"
    assert from_env.embedding_dimensions == 384  # coerced from the env string
    assert from_env.embedding_model == "text-embedding-3-small"  # profile still fills the rest

    flags = {"uri": "http://flag-host:19530", "db_name": None, "embedding_model": "m-flag"}
    from_flags = load_settings(flags, env=env, profile="cloud", config=CONFIG)
    assert from_flags.uri == "http://flag-host:19530"
    assert from_flags.db_name == "envdb"  # a None flag does not erase the env value
    assert from_flags.embedding_model == "m-flag"


def test_empty_env_values_do_not_override() -> None:
    settings = load_settings({}, env={"MILVUS_URI": "", "MILVUS_DB_NAME": ""}, profile="local", config=CONFIG)
    assert settings.uri == "./local_data"
    assert settings.db_name == "scratch"


def test_token_env_indirection() -> None:
    # The env var the profile names supplies the token ...
    assert load_settings({}, env={"ZILLIZ_TOKEN": "abc-123"}, profile="cloud", config=CONFIG).token == "abc-123"
    # ... absent, there is simply no token (the file holds none) ...
    assert load_settings({}, env={}, profile="cloud", config=CONFIG).token is None
    # ... and MILVUS_TOKEN (environment level) still beats the profile's indirection.
    both = {"ZILLIZ_TOKEN": "abc-123", "MILVUS_TOKEN": "milvus-token-wins"}
    assert load_settings({}, env=both, profile="cloud", config=CONFIG).token == "milvus-token-wins"
    # api_key_env works the same way.
    config = {"profiles": {"p": {"api_key_env": "MY_KEY"}}}
    assert load_settings({}, env={"MY_KEY": "sk-xyz-789"}, profile="p", config=config).api_key == "sk-xyz-789"


def test_unknown_profile_is_a_config_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({}, env={}, profile="nope", config=CONFIG)
    message = str(info.value)
    assert "No profile 'nope'" in message
    assert "cloud, inline, local" in message
    assert info.value.exit_code == 2
    with pytest.raises(ConfigError, match="profiles: none"):
        load_settings({}, env={}, profile="nope", config={})


def test_bad_values_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="whole number"):
        load_settings({}, env={"MILVUS_TUI_EMBEDDING_DIMENSIONS": "lots"}, config={})


def test_repr_hides_token_and_api_key() -> None:
    settings = load_settings({}, env={}, profile="inline", config=CONFIG)
    assert settings.token == "inline-secret-token"
    assert settings.api_key == "sk-inline-key-123"
    text = repr(settings) + str(settings)
    assert "inline-secret-token" not in text
    assert "sk-inline-key-123" not in text
    assert "http://db:19530" in text  # the rest is still shown
    # Loading registers both secrets, so any error message is scrubbed of them.
    scrubbed = scrub("failed with token inline-secret-token and key sk-inline-key-123")
    assert "inline-secret-token" not in scrubbed and "sk-inline-key-123" not in scrubbed
    assert scrubbed.count("***") == 2


def test_read_config_from_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILVUS_TUI_HOME", str(tmp_path))
    assert config_path() == tmp_path / "config" / "config.toml"
    assert state_dir() == tmp_path / "state"
    assert read_config() == {}  # no file yet
    write_private(config_path(), 'default_profile = "a"\n[profiles.a]\nuri = "http://a:1"\n')
    assert read_config() == {"default_profile": "a", "profiles": {"a": {"uri": "http://a:1"}}}
    settings = load_settings({}, env={})  # config read from the file
    assert settings.uri == "http://a:1" and settings.profile == "a"
    assert settings.backup_dir == tmp_path / "state" / "backups"
    assert settings.audit_path == tmp_path / "state" / "audit.jsonl"
    config_path().write_text("this is = not [toml")
    with pytest.raises(ConfigError, match="Cannot read"):
        read_config()


def test_write_private_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "config.toml"
    write_private(path, "a = 1\n")
    assert path.read_text() == "a = 1\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # An existing world-readable file is tightened, not left as it was.
    loose = tmp_path / "loose.toml"
    loose.write_text("old")
    os.chmod(loose, 0o644)
    write_private(loose, "new")
    assert loose.read_text() == "new"
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600


def test_milvus_uri_of_a_directory_is_ours_not_pymilvus(tmp_path: Path) -> None:
    """pymilvus parses MILVUS_URI on import and refuses a directory ("Illegal uri"); the app and
    every command read it through our settings instead, and the Lite child never sees it."""
    import subprocess
    import sys

    code = (
        "import os, tui; from tui.config import load_settings; settings = load_settings(config={});"
        "import pymilvus; from pymilvus import MilvusClient;"
        "print(settings.uri, repr(os.environ['MILVUS_URI']))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILVUS_")}
    env["MILVUS_URI"] = "./milvus_data"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["./milvus_data", "''"]
