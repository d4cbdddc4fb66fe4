"""Settings: CLI flags, then environment, then a named TOML profile, then defaults.

Profiles live in ``config.toml`` in the user's config directory (platformdirs). A
profile may hold a token, but can instead name an environment variable
(``token_env = "ZILLIZ_TOKEN"``) so no secret sits in the file; when we write the file
it is owner-only (0600). ``MILVUS_TUI_HOME`` moves config and state elsewhere (tests).
"""

from __future__ import annotations

import math
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


#: Settings that must be strings (TOML's ``uri = 12345`` is an integer and failed deep inside).
_STRINGS = {"uri", "token", "db_name", "collection", "profile", "embedding_provider", "embedding_model",
            "base_url", "api_key"}


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
    #: things to tell the user about the settings themselves (a token in a readable file).
    warnings: tuple[str, ...] = field(default=(), repr=False, compare=False)

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
        from .errors import display_uri

        return f"{display_uri(self.uri)}|{self.db_name}"


def read_config(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Cannot read {path}: it is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Cannot read {path}: {exc}") from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table ([profiles.<name>]), not {profiles!r}.")
    for name, profile in profiles.items():
        if not isinstance(profile, dict):
            raise ConfigError(f"{path}: profile '{name}' must be a table ([profiles.{name}]), not {profile!r}.")
    default = data.get("default_profile")
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"{path}: 'default_profile' must be a string, not {default!r}.")
    return data


def config_warnings(path: Path | None = None, config: Mapping[str, Any] | None = None) -> list[str]:
    """Warnings about the config file itself: a token in a file others can read."""
    path = path or config_path()
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    config = read_config(path) if config is None else config
    secrets = [f"'{name}'" for name, profile in (config.get("profiles") or {}).items()
               if isinstance(profile, dict) and (profile.get("token") or profile.get("api_key"))]
    readers = [who for who, bits in (("its group", 0o040), ("everyone", 0o004)) if mode & bits]
    if not secrets or not readers:
        return []
    return [f"{path} holds a token or API key (profile {', '.join(secrets)}) and can be read by "
            f"{' and '.join(readers)} (mode {mode & 0o777:o}). Run: chmod 600 {path}  "
            "(or use token_env to keep the secret in an environment variable)."]


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


def _coerce(key: str, value: Any, where: str = "") -> Any:
    """A setting with its proper type, or a ConfigError saying where the bad value came from."""
    if value is None:
        return None
    origin = f" (from {where})" if where else ""
    if key in _STRINGS:
        if not isinstance(value, str):
            raise ConfigError(f"'{key}' must be a string{origin}, not {value!r}; quote it in TOML: {key} = \"{value}\".")
        return value
    if key == "embedding_dimensions":
        try:
            number = int(value) if not isinstance(value, (bool, float)) else None
        except (TypeError, ValueError):
            number = None
        if number is None or number < 1:
            raise ConfigError(f"embedding dimensions must be a whole number of at least 1{origin}, "
                              f"not {value!r}.") from None
        return number
    if key == "timeout":
        try:
            seconds = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            seconds = math.nan
        if not math.isfinite(seconds) or seconds <= 0:
            raise ConfigError(f"timeout must be a number of seconds above 0{origin}, not {value!r}.")
        return seconds
    if key == "check_ctx_length":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"check_ctx_length must be true or false{origin}, not {value!r}.")
    return value


def load_settings(flags: Mapping[str, Any] | None = None, *, env: Mapping[str, str] | None = None,
                  profile: str | None = None, config: Mapping[str, Any] | None = None) -> Settings:
    """Merge settings: flags > environment > profile > defaults."""
    env = environ() if env is None else env
    notes: list[str] = []
    if config is None:
        config = read_config()
        notes = config_warnings(config=config)
    merged: dict[str, Any] = {}
    where: dict[str, str] = {}
    values = _profile_values(config, profile, env)
    for key, value in values.items():
        if key in _FIELDS:
            merged[key] = value
            where[key] = f"profile '{values.get('profile')}' in {config_path()}"
    for key, var in ENV.items():
        if env.get(var):
            merged[key] = env[var]
            where[key] = f"the environment variable {var}"
    for key, value in (flags or {}).items():
        if value is not None and key in _FIELDS:
            merged[key] = value
            where[key] = "the command line"
    settings = Settings(**{k: _coerce(k, v, where.get(k, "")) for k, v in merged.items()}, warnings=tuple(notes))
    from .errors import register_secret, uri_secrets

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
