"""JSON over HTTP with bounded retries and one-line errors, shared by the remote backends."""

from __future__ import annotations

import time
from typing import Any

import httpx

from jedi_academy.errors import BackendUnavailableError

RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}


class JSONClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        service: str = "server",
    ) -> None:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.service = service
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return the decoded JSON body, retrying transient failures."""
        where = f"{self.service} at {self.base_url}"
        for attempt in range(self.retries + 1):
            last_try = attempt == self.retries
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if last_try:
                    raise BackendUnavailableError(
                        f"cannot reach the {where} ({type(exc).__name__}: {exc})",
                        "start the server or fix --base-url / ACADEMY_BASE_URL",
                    ) from exc
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise BackendUnavailableError(f"the {where} sent a reply that is not JSON") from exc
                if response.status_code not in RETRY_STATUSES or last_try:
                    raise BackendUnavailableError(
                        f"the {where} answered {response.status_code} to {method} {path}: "
                        f"{_error_message(response)}",
                        _hint_for(response.status_code),
                    )
            time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        return self.request("POST", path, json=payload)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def close(self) -> None:
        self._client.close()


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or error)[:300]
        return str(body.get("message") or body.get("detail") or error)[:300]
    return str(body)[:300]


def _hint_for(status: int) -> str:
    if status in (401, 403):
        return "check the API key (ACADEMY_API_KEY or MISTRAL_API_KEY)"
    if status == 404:
        return "check the model name and --base-url (it should end before /v1)"
    return "see the server's log for details"
