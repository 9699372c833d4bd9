"""Fine-tuning through the Mistral API (deprecated by Mistral, kept for accounts that still have it).

Uploads the exported JSONL, creates the job, starts it when it validates, polls with back-off, and returns
the final job (status events, cost metadata and the ``fine_tuned_model`` id)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jedi_academy.errors import AcademyError
from jedi_academy.llm.http import JSONClient

TERMINAL = {"SUCCESS", "FAILED", "FAILED_VALIDATION", "CANCELLED"}


class RemoteFineTuneError(AcademyError):
    pass


class MistralFineTuning:
    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 120.0) -> None:
        self.client = JSONClient(base_url, api_key=api_key, timeout_s=timeout_s, service="Mistral API")

    def upload(self, path: Path) -> dict[str, Any]:
        with path.open("rb") as handle:
            return self.client.request(
                "POST",
                "/v1/files",
                files={"file": (path.name, handle, "application/jsonl")},
                data={"purpose": "fine-tune", "visibility": "workspace"},
            )

    def create_job(
        self,
        model: str,
        training_file: str,
        validation_file: str | None,
        hyperparameters: dict[str, Any],
        suffix: str | None = None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": model,
            "training_files": [{"file_id": training_file, "weight": 1.0}],
            "validation_files": [validation_file] if validation_file else [],
            "hyperparameters": hyperparameters,
            "auto_start": False,
            "job_type": "completion",
        }
        if suffix:
            payload["suffix"] = suffix[:18]
        return self.client.post("/v1/fine_tuning/jobs", payload)

    def get(self, job_id: str) -> dict[str, Any]:
        return self.client.get(f"/v1/fine_tuning/jobs/{job_id}")

    def start(self, job_id: str) -> dict[str, Any]:
        return self.client.post(f"/v1/fine_tuning/jobs/{job_id}/start", {})

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.client.post(f"/v1/fine_tuning/jobs/{job_id}/cancel", {})

    def wait(
        self,
        job_id: str,
        *,
        first_delay_s: float = 2.0,
        max_delay_s: float = 60.0,
        timeout_s: float = 6 * 3600,
        on_status: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the job ends, starting it once validated; delays grow by half each poll."""
        delay, deadline, started, last_status = first_delay_s, time.monotonic() + timeout_s, False, None
        while True:
            job = self.get(job_id)
            if job["status"] != last_status:
                last_status = job["status"]
                if on_status is not None:
                    on_status(job)
            if job["status"] in TERMINAL:
                return job
            if job["status"] == "VALIDATED" and not job.get("auto_start") and not started:
                self.start(job_id)
                started = True
                continue
            if time.monotonic() > deadline:
                raise RemoteFineTuneError(
                    f"fine-tuning job {job_id} still {job['status']} after {timeout_s:.0f} s"
                )
            time.sleep(delay)
            delay = min(max_delay_s, delay * 1.5)


def api_hyperparameters(
    max_steps: int, learning_rate: float, weight_decay: float, warmup: float
) -> dict[str, Any]:
    return {
        "training_steps": max_steps,
        "learning_rate": learning_rate,
        "weight_decay": weight_decay,
        "warmup_fraction": warmup,
    }
