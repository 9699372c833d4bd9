"""Calls to NCBI E-utilities through Biopython's ``Bio.Entrez``, with a response cache in front.

``Bio.Entrez`` sends ``tool``, ``email`` and ``api_key`` with every request and spaces requests for NCBI's
limits (3 per second, 10 with an API key). Two things it lacks are added here around each call: a request
timeout, and a configurable base URL (its endpoint URLs are fixed, so requests are re-pointed at the
configured server, which is how tests talk to a loopback replay of recorded responses).
"""

from __future__ import annotations

import os
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.error import HTTPError, URLError

from jedi_academy.errors import AcademyError
from jedi_academy.instruments.pubmed.cache import ResponseCache

if TYPE_CHECKING:
    from jedi_academy.config import Settings

NCBI_EUTILS = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
DEFAULT_TOOL = "jedi-academy"
_ENTREZ_LOCK = threading.Lock()  # Bio.Entrez keeps its settings in module globals


@dataclass(frozen=True)
class EntrezConfig:
    cache_dir: Path
    email: str | None = None
    tool: str = DEFAULT_TOOL
    api_key: str | None = None
    base_url: str = NCBI_EUTILS
    offline: bool = False  # never touch the network; answer from the cache or fail
    refresh: bool = False  # ignore cached answers (and replace them)
    timeout_s: float = 30.0
    max_tries: int = 3
    retry_sleep_s: float = 5.0


def _setting(settings: Settings | None, name: str, *env_names: str) -> str | None:
    value = getattr(settings, name, None) if settings is not None else None
    if value:
        return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return next((os.environ[env] for env in env_names if os.environ.get(env)), None)


def entrez_config(
    settings: Settings,
    *,
    email: str | None = None,
    tool: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    offline: bool = False,
    refresh: bool = False,
) -> EntrezConfig:
    """Flags first, then settings fields (when the settings carry them), then environment variables."""
    base = base_url or _setting(settings, "eutils_url", "ACADEMY_EUTILS_URL") or NCBI_EUTILS
    return EntrezConfig(
        cache_dir=settings.path("cache", "pubmed"),
        email=email or _setting(settings, "ncbi_email", "ACADEMY_NCBI_EMAIL", "NCBI_EMAIL"),
        tool=tool or _setting(settings, "ncbi_tool", "ACADEMY_NCBI_TOOL") or DEFAULT_TOOL,
        api_key=api_key or _setting(settings, "ncbi_api_key", "ACADEMY_NCBI_API_KEY", "NCBI_API_KEY"),
        base_url=base if base.endswith("/") else base + "/",
        offline=offline,
        refresh=refresh,
    )


class EntrezClient:
    """Fetches raw E-utilities XML, from the cache when it can."""

    def __init__(self, config: EntrezConfig) -> None:
        self.config = config
        self.cache = ResponseCache(config.cache_dir)
        self.network_calls = 0

    def fetch(self, endpoint: str, params: dict[str, str]) -> tuple[bytes, bool]:
        """Raw XML for ``endpoint`` (esearch, efetch, esummary) and whether it came from the cache."""
        cached = None if self.config.refresh else self.cache.get(endpoint, params)
        if cached is not None:
            return cached, True
        if self.config.offline:
            raise AcademyError(
                f"offline and this PubMed {endpoint} request is not in the cache ({self.config.cache_dir})",
                "run the same search once with network access, or drop --offline",
            )
        if not self.config.email:
            raise AcademyError(
                "NCBI asks every E-utilities client for a contact email",
                "pass --email you@example.org or set ACADEMY_NCBI_EMAIL",
            )
        return self._request(endpoint, params), False

    def remember(self, endpoint: str, params: dict[str, str], content: bytes) -> None:
        """Cache a response once the caller has parsed it (errors are never cached)."""
        self.cache.put(endpoint, params, content)

    def _request(self, endpoint: str, params: dict[str, str]) -> bytes:
        self.network_calls += 1
        try:
            with _entrez_session(self.config) as entrez:
                call = {"esearch": entrez.esearch, "efetch": entrez.efetch, "esummary": entrez.esummary}[
                    endpoint
                ]
                handle = call(**params)
                try:
                    content = handle.read()
                finally:
                    handle.close()
        except HTTPError as exc:
            raise AcademyError(
                f"PubMed {endpoint} failed: HTTP {exc.code} {exc.reason}",
                "NCBI may be rate-limiting or down; retry later (results already cached work with --offline)",
            ) from None
        except (URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AcademyError(
                f"cannot reach PubMed at {self.config.base_url}: {reason}",
                "check the network; searches made before answer from the cache (--offline)",
            ) from None
        return content.encode("utf-8") if isinstance(content, str) else content


@contextmanager
def _entrez_session(config: EntrezConfig) -> Iterator[Any]:
    from Bio import Entrez

    def open_url(request: urllib.request.Request) -> Any:
        if config.base_url != NCBI_EUTILS and request.full_url.startswith(NCBI_EUTILS):
            request.full_url = config.base_url + request.full_url[len(NCBI_EUTILS) :]
        return urllib.request.urlopen(request, timeout=config.timeout_s)

    names = ("email", "tool", "api_key", "max_tries", "sleep_between_tries", "urlopen")
    with _ENTREZ_LOCK:
        saved = {name: getattr(Entrez, name) for name in names}
        Entrez.email, Entrez.tool, Entrez.api_key = config.email, config.tool, config.api_key
        Entrez.max_tries, Entrez.sleep_between_tries = config.max_tries, config.retry_sleep_s
        Entrez.urlopen = open_url
        try:
            yield Entrez
        finally:
            for name, value in saved.items():
                setattr(Entrez, name, value)
