"""One settings object for the whole academy.

Sources, each overriding the one before: defaults < ``academy.toml`` < ``ACADEMY_*`` environment
variables < CLI flags (passed to :func:`load_settings` as keyword arguments).
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from jedi_academy.errors import ConfigError
from jedi_academy.limits import MAX_SEED

CONFIG_FILE_ENV = "ACADEMY_CONFIG"
DEFAULT_CONFIG_FILE = "academy.toml"
KNOWN_BACKENDS = ("transformers", "openai", "mistral")
KNOWN_DTYPES = ("auto", "float32", "bfloat16", "float16")
KNOWN_DATABASES = ("sqlite", "postgresql")
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def config_file_path() -> Path:
    """The academy.toml in use: ``$ACADEMY_CONFIG`` or ``./academy.toml``."""
    return Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))


class InstanceSettings(BaseModel):
    """``[instance]``: how this academy names itself on its portfolios and where it publishes its public key
    (clients should take the key from there, never from the portfolio they are checking)."""

    model_config = ConfigDict(extra="forbid")
    name: str = ""
    url: str = ""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACADEMY_", extra="forbid", env_nested_delimiter="__")

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
    # A pseudonymisation key kept outside the data directory (must exist; never created): several data
    # directories then share pseudonyms, and a test suite gets the same sample from one run to the next.
    pseudonym_key_file: Path | None = None
    instance: InstanceSettings = InstanceSettings()

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in KNOWN_BACKENDS:
            raise ValueError(f"unknown backend {value!r}; choose one of {', '.join(KNOWN_BACKENDS)}")
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not DEVICE_PATTERN.fullmatch(value):
            raise ValueError(f"unknown device {value!r}; use auto, cpu, mps, cuda or cuda:N")
        return value

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        if value not in KNOWN_DTYPES:
            raise ValueError(f"unknown dtype {value!r}; choose one of {', '.join(KNOWN_DTYPES)}")
        return value

    @field_validator("seed")
    @classmethod
    def _seed_in_range(cls, value: int) -> int:
        if not 0 <= value <= MAX_SEED:
            raise ValueError(f"seed {value} is outside 0..{MAX_SEED}")
        return value

    @field_validator("request_timeout_s")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ValueError("must be a positive number of seconds")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme, sep, _ = value.partition("://")
        if not sep or scheme.split("+")[0] not in KNOWN_DATABASES:
            raise ValueError(
                f"unsupported database URL {mask_url(value)!r}; use sqlite:///PATH or postgresql+psycopg://..."
            )
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

    def shown(self) -> dict[str, Any]:
        """The settings as JSON-ready data with every secret masked (the API key, a database password)."""
        data = self.model_dump(mode="json")
        data["api_key"] = "***" if self.api_key else None
        if self.database_url:
            data["database_url"] = mask_url(self.database_url)
        data["resolved_database_url"] = mask_url(self.resolved_database_url)
        return data


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (light: no SQLAlchemy import)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    credentials, at, host = authority.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}{slash}{tail}"


def settings_from_context(ctx: Any) -> Settings:
    """The settings of a CLI command: the root command's flags (stored on its click context) as overrides."""
    return load_settings(**(ctx.find_root().obj or {}))


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; ``overrides`` are CLI flags (``None`` means "not given")."""
    given = {key: value for key, value in overrides.items() if value is not None}
    path = config_file_path()
    if CONFIG_FILE_ENV in os.environ and not path.is_file():
        raise ConfigError(
            f"config file {path} {'is not a file' if path.exists() else 'does not exist'}",
            f"check --config / ${CONFIG_FILE_ENV}",
        )
    if path.exists():
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})", "fix the file or remove it") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read ({exc.strerror})", "check its permissions") from exc
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
