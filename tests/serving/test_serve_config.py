"""``academy serve-config --for vllm`` and ``academy checkpoints adapters``, consumed by ``academy serve`` on
loopback: its adapters are served under the checkpoint ids that the ``openai`` backend selects them by."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from jedi_academy.cli import main
from jedi_academy.llm import GenerationParams, LoglikelihoodRequest
from jedi_academy.llm.adapters import adapter_for_backend
from jedi_academy.llm.openai_backend import OpenAICompatibleLLM
from jedi_academy.llm.server import create_app
from jedi_academy.serving.cli import parse_lora_module
from tests.conftest import ServerThread
from tests.llm.test_transformers_backend import REQUESTS

PROMPT = [{"role": "user", "content": "How have you been sleeping?"}]


def academy(capsys, settings, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(["--data-dir", str(settings.data_dir), "--model", settings.model, *args])
    out, err = capsys.readouterr()
    return code, out, err


def adapter_folders(settings, ids: list[str]) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    from jedi_academy.finetune.checkpoints import adapter_path, get_checkpoint
    from jedi_academy.store import ArtifactStore, open_database

    with open_database(settings).session() as session:
        folders = {
            i: adapter_path(session, ArtifactStore(settings.data_dir), get_checkpoint(session, i))
            for i in ids
        }
    return {i: f for i, f in folders.items() if f is not None}


def test_vllm_config_names_every_checkpoint(capsys, trained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings, ids = trained
    out = tmp_path / "vllm"
    code, stdout, err = academy(
        capsys, settings, "serve-config", "--for", "vllm", "--out", str(out), "--json"
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert [a["name"] for a in summary["adapters"]] == ids
    assert summary["max_lora_rank"] == 16 and summary["max_loras"] == 2 and summary["max_cpu_loras"] == 2
    assert summary["tokenizer_mode"] == "mistral" and summary["base_model"] == settings.model
    args = summary["vllm_args"]
    for flag, value in (("--max-loras", "2"), ("--max-lora-rank", "16"), ("--tokenizer-mode", "mistral")):
        assert args[args.index(flag) + 1] == value
    assert "--enable-lora" in args
    assert args[args.index("--served-model-name") + 1] == settings.model
    modules = [json.loads(args[i + 1]) for i, a in enumerate(args) if a == "--lora-modules"]
    assert modules == json.loads((out / "lora-modules.json").read_text())
    folders = adapter_folders(settings, ids)
    assert {m["name"]: m["path"] for m in modules} == {i: str(f.resolve()) for i, f in folders.items()}
    script = (out / "vllm-serve.sh").read_text()
    assert script.startswith("#!/usr/bin/env bash") and "exec vllm serve" in script
    for name in ("vllm-serve.sh", "load-adapters.sh"):
        subprocess.run(["bash", "-n", str(out / name)], check=True)  # valid shell
    bodies = [json.loads(line) for line in (out / "load-adapters.jsonl").read_text().splitlines()]
    assert bodies == [{"lora_name": m["name"], "lora_path": m["path"]} for m in modules]

    # a rerun updates the folder in place; a foreign non-empty folder is refused
    assert academy(capsys, settings, "serve-config", "--for", "vllm", "--out", str(out))[0] == 0
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    code, _, err = academy(capsys, settings, "serve-config", "--for", "vllm", "--out", str(foreign))
    assert code == 1 and "not empty" in err and (foreign / "notes.txt").read_text() == "mine"
    code, _, err = academy(capsys, settings, "serve-config", "--for", "tgi")
    assert code == 1 and "unknown --for 'tgi'" in err


def test_export_ships_the_adapters(capsys, trained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings, ids = trained
    out = tmp_path / "ship"
    code, _, err = academy(
        capsys, settings, "serve-config", "--for", "vllm", "--out", str(out), "--adapter-root", "/x"
    )
    assert code == 1 and "add --export" in err
    code, stdout, _ = academy(
        capsys, settings, "serve-config", "--for", "vllm", "--out", str(out), "--export",
        "--adapter-root", "/srv/adapters", "--json", "--max-loras", "1", "--checkpoint", ids[1][:8],
    )  # fmt: skip
    summary = json.loads(stdout)
    assert code == 0 and summary["max_loras"] == 1 and [a["name"] for a in summary["adapters"]] == [ids[1]]
    assert summary["lora_modules"][0]["path"] == f"/srv/adapters/{ids[1]}"
    shipped = out / "adapters" / ids[1]
    assert (shipped / "adapter_config.json").is_file() and (shipped / "adapter_model.safetensors").is_file()
    assert json.loads((shipped / "adapter_config.json").read_text())["r"] == 16


def test_checkpoints_adapters_lists_them_for_vllm(capsys, trained) -> None:  # type: ignore[no-untyped-def]
    settings, ids = trained
    folders = adapter_folders(settings, ids)
    code, stdout, _ = academy(capsys, settings, "checkpoints", "adapters")
    assert code == 0 and stdout.splitlines() == [f"{i}={folders[i]}" for i in ids]
    code, stdout, _ = academy(capsys, settings, "checkpoints", "adapters", "--json")
    assert [(row["name"], row["rank"]) for row in json.loads(stdout)] == [(ids[0], 4), (ids[1], 16)]


def test_academy_serve_consumes_the_vllm_config(capsys, trained, tiny_llm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings, ids = trained
    out = tmp_path / "vllm"
    stdout = academy(capsys, settings, "serve-config", "--for", "vllm", "--out", str(out), "--json")[1]
    args = json.loads(stdout)["vllm_args"]
    folders = adapter_folders(settings, ids)
    request = REQUESTS[0]
    local = {
        i: tiny_llm.loglikelihood(
            [LoglikelihoodRequest(request.context, request.continuation, str(folders[i]))]
        )[0]
        for i in ids
    }

    # the static way: vllm serve's --lora-modules arguments, as academy serve parses them
    adapters = dict(parse_lora_module(args[i + 1]) for i, a in enumerate(args) if a == "--lora-modules")
    with ServerThread(create_app(tiny_llm, settings.model, adapters)) as running:
        remote = OpenAICompatibleLLM(running.url, settings.model)
        for checkpoint_id in ids:
            named = adapter_for_backend("openai", checkpoint_id, folders[checkpoint_id])
            assert named == checkpoint_id
            got = remote.loglikelihood([LoglikelihoodRequest(request.context, request.continuation, named)])[
                0
            ]
            assert got.logprob == pytest.approx(local[checkpoint_id].logprob, abs=1e-4)
        assert abs(local[ids[0]].logprob - local[ids[1]].logprob) > 1e-4  # two different patients

    # the runtime way: load-adapters.sh posting to /v1/load_lora_adapter
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (.ci/run installs it)")
    with ServerThread(create_app(tiny_llm, settings.model, runtime_lora=True)) as running:
        subprocess.run(["bash", str(out / "load-adapters.sh"), running.url], check=True, capture_output=True)
        served = [m["id"] for m in httpx.get(f"{running.url}/v1/models").json()["data"]]
        assert served == [settings.model, *ids]
        remote = OpenAICompatibleLLM(running.url, settings.model)
        got = remote.loglikelihood([LoglikelihoodRequest(request.context, request.continuation, ids[1])])[0]
        assert got.logprob == pytest.approx(local[ids[1]].logprob, abs=1e-4)


def test_chat_with_a_checkpoint_through_the_openai_backend(capsys, trained, tiny_llm) -> None:  # type: ignore[no-untyped-def]
    settings, ids = trained
    folder = adapter_folders(settings, ids)[ids[0]]
    expected = tiny_llm.generate(
        [PROMPT], GenerationParams(temperature=0.0, max_tokens=6), adapter=str(folder)
    )[0]
    with ServerThread(create_app(tiny_llm, settings.model, {ids[0]: str(folder)})) as running:
        code, stdout, err = academy(
            capsys, settings, "--backend", "openai", "--base-url", running.url, "chat",
            "--checkpoint", ids[0][:9], "-m", PROMPT[0]["content"], "--max-tokens", "6", "--temperature", "0",
        )  # fmt: skip
    assert code == 0, err
    assert stdout.splitlines()[1] == f"model> {expected}"


def test_the_openai_backend_refuses_a_folder_as_adapter(trained) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.errors import ConfigError

    settings, ids = trained
    folder = adapter_folders(settings, ids)[ids[0]]
    remote = OpenAICompatibleLLM("http://127.0.0.1:9", settings.model)
    with pytest.raises(ConfigError, match="by served name"):
        remote.generate([PROMPT], GenerationParams(max_tokens=1), adapter=str(folder))
