from pathlib import Path

import pytest

from jedi_academy.config import load_settings
from jedi_academy.errors import ConfigError


def write_toml(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_defaults_put_the_database_inside_the_data_directory() -> None:
    settings = load_settings()
    assert settings.data_dir == Path("academy-data")
    assert settings.resolved_database_url == f"sqlite:///{(Path('academy-data') / 'academy.db').resolve()}"
    assert settings.backend == "transformers"
    assert settings.model == "tiny"


def test_toml_then_environment_then_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_toml(tmp_path / "academy.toml", 'model = "from-toml"\nbackend = "openai"\nseed = 7\n')
    settings = load_settings()
    assert (settings.model, settings.backend, settings.seed) == ("from-toml", "openai", 7)

    monkeypatch.setenv("ACADEMY_MODEL", "from-env")
    settings = load_settings()
    assert (settings.model, settings.backend, settings.seed) == ("from-env", "openai", 7)

    settings = load_settings(model="from-flag", backend=None)
    assert (settings.model, settings.backend) == ("from-flag", "openai")


def test_config_file_can_be_chosen_by_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    write_toml(other, 'database_url = "postgresql+psycopg://u@h/db"\n')
    monkeypatch.setenv("ACADEMY_CONFIG", str(other))
    assert load_settings().resolved_database_url == "postgresql+psycopg://u@h/db"


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown backend 'llamas'"):
        load_settings(backend="llamas")


def test_unknown_setting_in_toml_is_rejected(tmp_path: Path) -> None:
    write_toml(tmp_path / "academy.toml", 'modle = "typo"\n')
    with pytest.raises(ConfigError, match="modle"):
        load_settings()


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    write_toml(tmp_path / "academy.toml", "model = \n")
    with pytest.raises(ConfigError, match=r"academy\.toml: not valid TOML"):
        load_settings()
