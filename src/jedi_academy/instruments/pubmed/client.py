"""Calls to NCBI E-utilities over the project's own HTTP client (httpx), with a response cache in front.

Every request carries ``tool``, ``email`` and ``api_key`` (when set), has a timeout, and is spaced for NCBI's
limits (3 requests per second, 10 with an API key) by a process-wide throttle. A 429, a 5xx or a network
failure is retried ``max_tries`` times in all, honouring ``Retry-After``. The base URL is configurable, which
is how tests talk to a loopback server speaking the E-utilities wire format.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jedi_academy.errors import AcademyError
from jedi_academy.instruments.pubmed.cache import ResponseCache

if TYPE_CHECKING:
    import httpx

    from jedi_academy.config import Settings

NCBI_EUTILS = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
DEFAULT_TOOL = "jedi-academy"
ENDPOINTS = ("esearch", "esummary", "efetch")
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_GET_URL = 2000  # longer queries (many ids) go as a POST form, as NCBI recommends
MAX_RETRY_AFTER_S = 60.0


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


class _Throttle:
    """Spaces requests process-wide: NCBI counts requests per client address, not per object."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = float("-inf")

    def wait(self, interval_s: float) -> None:
        with self._lock:
            delay = self._last + interval_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._last = time.monotonic()


_THROTTLE = _Throttle()


class EntrezClient:
    """Fetches raw E-utilities replies, from the cache when it can."""

    def __init__(self, config: EntrezConfig) -> None:
        self.config = config
        self.cache = ResponseCache(config.cache_dir)
        self.network_calls = 0

    def fetch(self, endpoint: str, params: dict[str, str]) -> tuple[bytes, bool]:
        """Raw reply for ``endpoint`` (esearch, esummary, efetch) and whether it came from the cache."""
        if endpoint not in ENDPOINTS:
            raise AcademyError(f"unknown E-utilities endpoint {endpoint!r}", f"use {', '.join(ENDPOINTS)}")
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

    def _identity(self) -> dict[str, str]:
        identity = {"tool": self.config.tool, "email": str(self.config.email)}
        if self.config.api_key:
            identity["api_key"] = self.config.api_key
        return identity

    def _request(self, endpoint: str, params: dict[str, str]) -> bytes:
        import httpx

        url = f"{self.config.base_url}{endpoint}.fcgi"
        form = {**params, **self._identity()}
        interval = 0.1 if self.config.api_key else 1 / 3
        tries = max(1, self.config.max_tries)
        with httpx.Client(timeout=self.config.timeout_s, follow_redirects=True) as http:
            for attempt in range(1, tries + 1):
                _THROTTLE.wait(interval)
                self.network_calls += 1
                try:
                    response = self._send(http, url, form)
                except httpx.TransportError as exc:
                    if attempt < tries:
                        time.sleep(self.config.retry_sleep_s)
                        continue
                    raise AcademyError(
                        f"cannot reach PubMed at {self.config.base_url}: {exc or type(exc).__name__}",
                        "check the network; searches made before answer from the cache (--offline)",
                    ) from None
                if response.status_code in RETRY_STATUS and attempt < tries:
                    time.sleep(_retry_after(response, self.config.retry_sleep_s))
                    continue
                if response.status_code != 200:
                    raise AcademyError(
                        f"PubMed {endpoint} failed: HTTP {response.status_code} {response.reason_phrase}",
                        "NCBI may be rate-limiting or down; retry later (cached results work with --offline)",
                    )
                return response.content
        raise AssertionError("unreachable: the loop returns or raises")

    @staticmethod
    def _send(http: httpx.Client, url: str, form: dict[str, str]) -> httpx.Response:
        request = http.build_request("GET", url, params=form)
        if len(str(request.url)) > MAX_GET_URL:
            request = http.build_request("POST", url, data=form)
        return http.send(request)


def _retry_after(response: httpx.Response, default_s: float) -> float:
    """Seconds to wait before retrying: the server's ``Retry-After`` (in seconds) when it gives one."""
    try:
        return min(max(float(response.headers.get("Retry-After", "")), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return default_s
