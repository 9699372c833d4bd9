"""One settings object for the whole academy.

Sources, each overriding the one before: defaults < ``academy.toml`` < ``ACADEMY_*`` environment
variables < CLI flags (passed to :func:`load_settings` as keyword arguments).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from jedi_academy.errors import ConfigError

CONFIG_FILE_ENV = "ACADEMY_CONFIG"
DEFAULT_CONFIG_FILE = "academy.toml"
KNOWN_BACKENDS = ("transformers", "openai", "mistral")


def config_file_path() -> Path:
    """The academy.toml in use: ``$ACADEMY_CONFIG`` or ``./academy.toml``."""
    return Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACADEMY_", extra="forbid")

    data_dir: Path = Path("academy-data")
    database_url: str | None = None
    backend: str = "transformers"
    model: str = "tiny"
    base_url: str | None = None
    api_key: SecretStr | None = None
    device: str = "auto"
    dtype: str = "auto"
    seed: int = 0
    request_timeout_s: float = 120.0
    queue_url: str | None = None  # the job queue: redis://host:port/db, or the embedded SQLite file

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in KNOWN_BACKENDS:
            raise ValueError(f"unknown backend {value!r}; choose one of {', '.join(KNOWN_BACKENDS)}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_source = TomlConfigSettingsSource(settings_cls, toml_file=config_file_path())
        return (init_settings, env_settings, toml_source)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'academy.db').resolve()}"

    def path(self, *parts: str) -> Path:
        """A path inside the data directory (not created)."""
        return self.data_dir.joinpath(*parts)


def settings_from_context(ctx: Any) -> Settings:
    """The settings of a CLI command: the root command's flags (stored on its click context) as overrides."""
    return load_settings(**(ctx.find_root().obj or {}))


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; ``overrides`` are CLI flags (``None`` means "not given")."""
    given = {key: value for key, value in overrides.items() if value is not None}
    path = config_file_path()
    if path.exists():
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}", "fix the file or remove it") from exc
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid settings: {problems}",
            f"check {path}, the ACADEMY_* environment variables and the command-line flags",
        ) from exc
