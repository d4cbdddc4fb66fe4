"""Bad settings give a sentence naming the setting and where it came from, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.apphelpers import SIZE, wait_until
from tests.test_cli import assert_clean_error, cli
from tui.app import MilvusTuiApp
from tui.config import ConfigError, config_warnings, load_settings, read_config


def write_config(home: Path, text: str | bytes, mode: int = 0o600) -> Path:
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    path.chmod(mode)
    return path


@pytest.mark.parametrize("profile, fragment", [
    ({"uri": 12345}, "'uri' must be a string (from profile 'p' in"),
    ({"timeout": "abc"}, "timeout must be a number of seconds above 0 (from profile 'p'"),
    ({"timeout": -1}, "timeout must be a number of seconds above 0"),
    ({"db_name": ["a"]}, "'db_name' must be a string"),
    ({"embedding_dimensions": True}, "embedding dimensions must be a whole number"),
    ({"check_ctx_length": "maybe"}, "check_ctx_length must be true or false"),
])
def test_wrong_types_are_config_errors(profile: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({}, env={}, profile="p", config={"profiles": {"p": profile}})
    assert fragment in str(err.value)


def test_env_values_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="from the environment variable MILVUS_TUI_EMBEDDING_DIMENSIONS"):
        load_settings({}, env={"MILVUS_TUI_EMBEDDING_DIMENSIONS": "lots"}, config={})


@pytest.mark.parametrize("text, fragment", [
    (b"uri = \"caf\xe9\"\n", "is not UTF-8 text"),
    ("profiles = 3\n", "'profiles' must be a table"),
    ("[profiles]\np = 1\n", "profile 'p' must be a table"),
    ("default_profile = 7\n", "'default_profile' must be a string"),
])
def test_bad_files_are_config_errors(tmp_path: Path, text: str | bytes, fragment: str) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        read_config(path)
    assert fragment in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("text, fragment", [
    ('default_profile = "p"\n[profiles.p]\nuri = 12345\n', "'uri' must be a string"),
    ('default_profile = "p"\n[profiles.p]\ntimeout = "abc"\n', "timeout must be a number"),
    (b"# caf\xe9\n", "not UTF-8 text"),
])
@pytest.mark.parametrize("command", [("collections",), ()])
def test_cli_and_app_give_a_message_not_a_traceback(tmp_path: Path, text: str | bytes, fragment: str,
                                                    command: tuple[str, ...]) -> None:
    home = tmp_path / "home"
    write_config(home, text)
    assert_clean_error(cli(*command, home=home, timeout=60), 2, fragment)


def test_a_readable_config_holding_a_token_is_warned_about(tmp_path: Path) -> None:
    text = '[profiles.cloud]\nuri = "http://db:19530"\ntoken = "secret-token-123"\n'
    path = write_config(tmp_path, text, 0o644)
    warnings = config_warnings(path)
    assert len(warnings) == 1
    assert "profile 'cloud'" in warnings[0] and "its group and everyone" in warnings[0]
    assert f"chmod 600 {path}" in warnings[0] and "secret-token-123" not in warnings[0]
    path.chmod(0o640)
    assert "its group" in config_warnings(path)[0] and "everyone" not in config_warnings(path)[0]
    path.chmod(0o600)
    assert config_warnings(path) == []
    write_config(tmp_path, '[profiles.cloud]\nuri = "http://db:19530"\ntoken_env = "TOK"\n', 0o644)
    assert config_warnings(path) == []  # no secret in the file


async def test_the_app_shows_the_token_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MILVUS_TUI_HOME", str(home))
    write_config(home, '[profiles.cloud]\ntoken = "secret-token-123"\n', 0o604)
    settings = load_settings({"uri": str(tmp_path / "data")}, env={})
    assert settings.warnings and "everyone" in settings.warnings[0]
    app = MilvusTuiApp(settings)
    async with app.run_test(size=SIZE) as pilot:
        shown = await wait_until(pilot, lambda: [n for n in app._notifications if n.title == "settings"],
                                 what="the settings warning")
        assert "chmod 600" in shown[0].message and "secret-token-123" not in shown[0].message
        await pilot.press("q")
    assert os.path.exists(home / "config" / "config.toml")


def test_unusable_data_directory_is_a_sentence(tmp_path: Path) -> None:
    import errno

    from tui.milvus.lite import LiteServer, data_dir_error

    home = tmp_path / "home"
    home.mkdir()
    (home / "afile").write_text("x")
    result = cli("collections", home=home, uri=str(home / "afile" / "data"), timeout=60)
    assert_clean_error(result, 2, "as the Milvus Lite data directory: a part of the path is a file")
    assert "Errno" not in result.stderr
    with pytest.raises(Exception) as err:
        LiteServer(home / "afile" / "data").start()
    assert "Choose a writable directory" in str(err.value)
    # A read-only file system cannot be made here without mounting one; the sentence for it:
    ro = data_dir_error(Path("/mnt/ro/data"), OSError(errno.EROFS, "Read-only file system"))
    assert str(ro).startswith("Cannot use /mnt/ro/data as the Milvus Lite data directory: it is on a read-only")
