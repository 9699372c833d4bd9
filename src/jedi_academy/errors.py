"""Errors that the CLI turns into one clear line (and a non-zero exit) instead of a traceback."""


class AcademyError(Exception):
    """A problem the user can fix. ``hint`` says what to do about it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(AcademyError):
    """Bad configuration: an unknown backend, a malformed academy.toml, ..."""


class ModelLoadError(AcademyError):
    """A model, tokenizer or adapter that cannot be loaded."""


class BackendUnavailableError(AcademyError):
    """A server that cannot be reached or answers with an error."""


class LogprobsUnavailableError(AcademyError):
    """The backend cannot return log-probabilities; callers fall back to sampling."""
