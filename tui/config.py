"""Settings: CLI flags, then environment, then a named TOML profile, then defaults.

Profiles live in ``config.toml`` in the user's config directory (platformdirs). A
profile may hold a token, but can instead name an environment variable
(``token_env = "ZILLIZ_TOKEN"``) so no secret sits in the file; when we write the file
it is owner-only (0600). ``MILVUS_TUI_HOME`` moves config and state elsewhere (tests).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

APP_NAME = "milvus-tui"
DEFAULT_URI = "./milvus_data"
DEFAULT_COLLECTION = "python_docs"

ENV = {
    "uri": "MILVUS_URI",
    "token": "MILVUS_TOKEN",
    "db_name": "MILVUS_DB_NAME",
    "api_key": "OPENAI_API_KEY",
    "base_url": "OPENAI_BASE_URL",
    "embedding_model": "MILVUS_TUI_EMBEDDING_MODEL",
    "embedding_provider": "MILVUS_TUI_EMBEDDING_PROVIDER",
    "embedding_dimensions": "MILVUS_TUI_EMBEDDING_DIMENSIONS",
}


class ConfigError(Exception):
    exit_code = 2


#: Our variables that pymilvus also reads, once, when it is imported (``pymilvus/settings.py``):
#: its ``orm.connections`` then parses ``MILVUS_URI`` and raises "Illegal uri" for anything
#: that is not http(s), such as the local data directory our README tells users to set.
_PYMILVUS_READS = ("MILVUS_URI",)
_hidden_env: dict[str, str] = {}


def hide_env_from_pymilvus() -> None:
    """Keep our values of ``_PYMILVUS_READS`` for ``load_settings`` and show pymilvus an empty
    value instead. Empty, not removed: pymilvus also runs ``load_dotenv()``, which fills unset
    variables from a ``.env`` file in the working directory but never overrides a set one.
    Must run before pymilvus is imported; ``tui/__init__`` calls it."""
    for var in _PYMILVUS_READS:
        value = os.environ.get(var)
        if value:
            _hidden_env[var] = value
        os.environ[var] = ""


def environ() -> Mapping[str, str]:
    """``os.environ`` with the values hidden from pymilvus put back (a value set after the
    hiding, e.g. by a test, wins)."""
    env = dict(os.environ)
    for var, value in _hidden_env.items():
        if not env.get(var):
            env[var] = value
    return env


def config_dir() -> Path:
    home = os.environ.get("MILVUS_TUI_HOME")
    if home:
        return Path(home) / "config"
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME))


def state_dir() -> Path:
    """History, theme, backups and the audit log."""
    home = os.environ.get("MILVUS_TUI_HOME")
    if home:
        return Path(home) / "state"
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME))


def config_path() -> Path:
    return config_dir() / "config.toml"


@dataclass(frozen=True)
class Settings:
    uri: str = DEFAULT_URI
    token: str | None = field(default=None, repr=False)
    db_name: str = "default"
    collection: str | None = None
    profile: str | None = None
    embedding_provider: str | None = None  # "local", "openai" or None = auto
    embedding_model: str | None = None
    embedding_dimensions: int | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    check_ctx_length: bool | None = None
    timeout: float = 30.0

    @property
    def backup_dir(self) -> Path:
        return state_dir() / "backups"

    @property
    def audit_path(self) -> Path:
        return state_dir() / "audit.jsonl"

    def embedding_settings(self) -> Any:
        from .embeddings import EmbeddingSettings

        return EmbeddingSettings(
            provider=self.embedding_provider, model=self.embedding_model, base_url=self.base_url,
            api_key=self.api_key, dimensions=self.embedding_dimensions, check_ctx_length=self.check_ctx_length,
        )

    def history_key(self) -> str:
        """Names this connection in the history file without any secret (not even a password
        written into the URI)."""
        from .milvus.errors import display_uri

        return f"{display_uri(self.uri)}|{self.db_name}"


def read_config(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}") from None


def _profile_values(config: Mapping[str, Any], name: str | None, env: Mapping[str, str]) -> dict[str, Any]:
    profiles = config.get("profiles", {})
    chosen = name or config.get("default_profile")
    if not chosen:
        return {}
    if chosen not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(f"No profile '{chosen}' in {config_path()} (profiles: {known}).")
    raw = dict(profiles[chosen])
    for secret in ("token", "api_key"):
        ref = raw.pop(f"{secret}_env", None)
        if ref:
            raw[secret] = env.get(ref) or raw.get(secret)
    raw["profile"] = chosen
    return raw


_FIELDS = {f for f in Settings.__dataclass_fields__}


def _coerce(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key == "embedding_dimensions":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"embedding dimensions must be a whole number, not {value!r}.") from None
    if key == "timeout":
        return float(value)
    if key == "check_ctx_length" and isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return value


def load_settings(flags: Mapping[str, Any] | None = None, *, env: Mapping[str, str] | None = None,
                  profile: str | None = None, config: Mapping[str, Any] | None = None) -> Settings:
    """Merge settings: flags > environment > profile > defaults."""
    env = environ() if env is None else env
    config = read_config() if config is None else config
    merged: dict[str, Any] = {}
    for key, value in _profile_values(config, profile, env).items():
        if key in _FIELDS:
            merged[key] = value
    for key, var in ENV.items():
        if env.get(var):
            merged[key] = env[var]
    for key, value in (flags or {}).items():
        if value is not None and key in _FIELDS:
            merged[key] = value
    settings = Settings(**{k: _coerce(k, v) for k, v in merged.items()})
    from .milvus.errors import register_secret, uri_secrets

    register_secret(settings.token)
    register_secret(settings.api_key)
    for secret in uri_secrets(str(settings.uri)):  # a password or token written into the URI
        register_secret(secret)
    return settings


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (config and history may name secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
