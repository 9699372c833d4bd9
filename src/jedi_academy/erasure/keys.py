"""The instance's pseudonymisation key, for hashing a removal list the way ingest hashed the dump."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jedi_academy.errors import ConfigError

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.reddit.privacy import Pseudonymizer


def instance_keyed(settings: Settings) -> Pseudonymizer:
    """The key ingest used. Never created here: a fresh key would hash the list to pseudonyms nothing has."""
    from jedi_academy.reddit.privacy import Pseudonymizer, load_or_create_secret, secret_path

    path = secret_path(settings)
    if not path.is_file():
        raise ConfigError(
            f"there is no pseudonymisation key at {path}, so no ingested comment can match",
            "point the pseudonym_key_file setting at the key ingest used",
        )
    return Pseudonymizer(load_or_create_secret(settings))
