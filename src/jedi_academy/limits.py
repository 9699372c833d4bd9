"""Bounds shared by the settings and the command-line options, checked before any work starts.

Spread into a typer option: ``typer.Option(help=..., **SEED)``; typer then refuses an out-of-range value (and
NaN) as a usage error, exit status 2.
"""

from typing import Any

MAX_SEED = 2**32 - 1  # what numpy and torch generators accept
MAX_TOKENS = 32_768  # longest reply any command asks a model for
MAX_TEMPERATURE = 5.0
# One therapist message: a long paragraph is a few hundred words; 4,000 characters is about 1,000 tokens.
MAX_MESSAGE_CHARS = 4_000
# The patient's context when the model does not say how many positions it has (Mistral-7B v0.3's).
DEFAULT_CONTEXT_TOKENS = 32_768

SEED: dict[str, Any] = {"min": 0, "max": MAX_SEED}
TEMPERATURE: dict[str, Any] = {"min": 0.0, "max": MAX_TEMPERATURE}
REPLY_TOKENS: dict[str, Any] = {"min": 1, "max": MAX_TOKENS}
PORT: dict[str, Any] = {"min": 1, "max": 65_535}
POSITIVE: dict[str, Any] = {"min": 1}
FRACTION: dict[str, Any] = {"min": 0.0, "max": 1.0}
