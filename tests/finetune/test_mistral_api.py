"""The mistral-api fine-tuning backend against a loopback server implementing the documented wire format
(files, jobs, start, cancel, get)."""

import json
import uuid

import pytest
from pydantic import SecretStr

from jedi_academy.finetune.config import TrainingConfig
from jedi_academy.finetune.mistral_api import MistralFineTuning
from jedi_academy.finetune.service import FinetuneRequest, finetune
from tests.http_helpers import JSONHandler, LoopbackServer


class FineTuningServer(LoopbackServer):
    """Jobs walk QUEUED -> VALIDATED (auto_start false) -> start -> RUNNING -> SUCCESS as they are polled."""

    def __init__(self) -> None:
        self.files: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.log: list[tuple[str, str]] = []
        outer = self

        class Handler(JSONHandler):
            def do_POST(self) -> None:
                outer.log.append(("POST", self.path))
                if self.headers.get("Authorization") != "Bearer ft-key":
                    return self.reply(401, {"message": "Unauthorized"})
                raw = self.raw_body()
                if self.path == "/v1/files":
                    assert self.headers["Content-Type"].startswith("multipart/form-data")
                    assert b'name="purpose"' in raw and b"fine-tune" in raw
                    file_id = str(uuid.uuid4())
                    lines = raw.count(b'"messages"')
                    outer.files[file_id] = {
                        "id": file_id,
                        "object": "file",
                        "bytes": len(raw),
                        "num_lines": lines,
                        "created_at": 1,
                        "purpose": "fine-tune",
                        "filename": "train.jsonl",
                        "sample_type": "instruct",
                        "source": "upload",
                    }
                    return self.reply(200, outer.files[file_id])
                if self.path == "/v1/fine_tuning/jobs":
                    payload = json.loads(raw)
                    for field in ("model", "hyperparameters"):
                        if field not in payload:
                            return self.reply(422, {"detail": f"missing {field}"})
                    for entry in payload["training_files"]:
                        if entry["file_id"] not in outer.files:
                            return self.reply(404, {"detail": "file not found"})
                    job_id = str(uuid.uuid4())
                    outer.jobs[job_id] = {
                        "id": job_id, "object": "job", "auto_start": payload.get("auto_start", True),
                        "model": payload["model"], "status": "QUEUED", "created_at": 1, "modified_at": 1,
                        "training_files": [f["file_id"] for f in payload["training_files"]],
                        "validation_files": payload.get("validation_files", []),
                        "hyperparameters": payload["hyperparameters"], "fine_tuned_model": None,
                        "suffix": payload.get("suffix"), "job_type": "completion", "trained_tokens": None,
                        "metadata": {"cost": 4.0, "cost_currency": "USD", "expected_duration_seconds": 60},
                        "events": [{"name": "status-updated", "data": {"status": "QUEUED"}, "created_at": 1}],
                        "checkpoints": [],
                    }  # fmt: skip
                    return self.reply(200, outer.jobs[job_id])
                parts = self.path.strip("/").split("/")
                if len(parts) == 5 and parts[:3] == ["v1", "fine_tuning", "jobs"] and parts[3] in outer.jobs:
                    job = outer.jobs[parts[3]]
                    if parts[4] == "start":
                        if job["status"] != "VALIDATED":
                            return self.reply(409, {"detail": "job not validated"})
                        outer.move(job, "RUNNING")
                        return self.reply(200, job)
                    if parts[4] == "cancel":
                        outer.move(job, "CANCELLED")
                        return self.reply(200, job)
                return self.reply(404, {"detail": "Not Found"})

            def do_GET(self) -> None:
                outer.log.append(("GET", self.path))
                parts = self.path.strip("/").split("/")
                if len(parts) == 4 and parts[:3] == ["v1", "fine_tuning", "jobs"] and parts[3] in outer.jobs:
                    job = outer.jobs[parts[3]]
                    if job["status"] == "QUEUED":
                        outer.move(job, "VALIDATED")
                    elif job["status"] == "RUNNING":
                        job["fine_tuned_model"] = f"ft:{job['model']}:abc123:20261125:{job['id'][:8]}"
                        job["trained_tokens"] = 12345
                        job["checkpoints"] = [
                            {"metrics": {"train_loss": 1.2, "valid_loss": 1.3}, "step_number": 10}
                        ]
                        outer.move(job, "SUCCESS")
                    return self.reply(200, job)
                return self.reply(404, {"detail": "Not Found"})

        super().__init__(Handler)

    @staticmethod
    def move(job: dict, status: str) -> None:
        job["status"] = status
        job["events"].append({"name": "status-updated", "data": {"status": status}, "created_at": 2})


def test_remote_job_life_cycle_becomes_a_remote_checkpoint(tiny_settings, dataset_files, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import jedi_academy.finetune.mistral_api as api_module

    monkeypatch.setattr(api_module.time, "sleep", lambda _s: None)
    train, validation = dataset_files
    with FineTuningServer() as server:
        settings = tiny_settings.model_copy(update={"base_url": server.url, "api_key": SecretStr("ft-key")})
        statuses: list[str] = []
        request = FinetuneRequest(
            dataset=str(train),
            validation_file=validation,
            base_model="open-mistral-7b",
            backend="mistral-api",
        )
        checkpoint = finetune(
            settings, request, TrainingConfig(max_steps=10, learning_rate=1e-4), echo=statuses.append
        )
        assert checkpoint.kind == "remote"
        assert checkpoint.remote_model_id.startswith("ft:open-mistral-7b:")
        assert checkpoint.hyperparameters["training_steps"] == 10
        assert [e["data"]["status"] for e in checkpoint.metrics["events"]] == [
            "QUEUED",
            "VALIDATED",
            "RUNNING",
            "SUCCESS",
        ]
        assert checkpoint.metrics["cost"] == 4.0 and checkpoint.metrics["trained_tokens"] == 12345
        assert ("POST", f"/v1/fine_tuning/jobs/{checkpoint.metrics['job_id']}/start") in server.log
        assert sum(1 for method, path in server.log if path == "/v1/files") == 2
        # the uploaded records are the card-visible views: one per trained assistant turn
        uploaded = [f["num_lines"] for f in server.files.values()]
        assert uploaded == [48, 8] and checkpoint.metrics["card_visible_records"] == 48
        assert checkpoint.parent_id is None
        assert any("SUCCESS" in line for line in statuses)


def test_cancel_and_bad_key(dataset_files) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.errors import BackendUnavailableError

    with FineTuningServer() as server:
        api = MistralFineTuning(server.url, "ft-key")
        uploaded = api.upload(dataset_files[0])
        assert uploaded["num_lines"] == 24
        job = api.create_job(
            "open-mistral-7b", uploaded["id"], None, {"training_steps": 5, "learning_rate": 1e-4}
        )
        assert api.cancel(job["id"])["status"] == "CANCELLED"
        assert api.wait(job["id"], first_delay_s=0)["status"] == "CANCELLED"
        with pytest.raises(BackendUnavailableError, match="401"):
            MistralFineTuning(server.url, "wrong").upload(dataset_files[0])
