"""The ``academy`` command: start-up cost, the foundation commands, and one-line errors."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from jedi_academy.cli import main
from tests.conftest import closed_port
from tests.http_helpers import ServedProcess

ACADEMY = [sys.executable, "-m", "jedi_academy.cli"]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_does_not_import_heavy_libraries() -> None:
    probe = (
        "import sys\n"
        "from jedi_academy.cli import main\n"
        "code = main(['--help'])\n"
        "names = ('torch', 'transformers', 'sqlalchemy', 'peft', 'mistral_common')\n"
        "heavy = sorted(m for m in names if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in result.stdout
    assert "instruments" in result.stdout and "serve" in result.stdout


def test_config_show_applies_flags_over_environment(capsys, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ACADEMY_MODEL", "env-model")
    monkeypatch.setenv("ACADEMY_API_KEY", "secret")
    code, out, _ = run_cli(capsys, "--data-dir", str(tmp_path / "d"), "config", "show")
    shown = json.loads(out)
    assert code == 0 and shown["model"] == "env-model" and shown["api_key"] == "***"
    code, out, _ = run_cli(capsys, "--model", "flag-model", "config", "show")
    assert json.loads(out)["model"] == "flag-model"


def test_unknown_backend_is_one_line_without_traceback(capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli(capsys, "--backend", "llamas", "config", "show")
    assert code == 1
    assert err.splitlines()[0].startswith(
        "error: invalid settings: backend: Value error, unknown backend 'llamas'"
    )
    assert "Traceback" not in err


def test_debug_flag_shows_the_traceback() -> None:
    result = subprocess.run(
        [*ACADEMY, "--debug", "--backend", "llamas", "config", "show"], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "ConfigError" in result.stderr


def test_db_upgrade_and_current(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.store.db import head_revision

    code, out, _ = run_cli(capsys, "--data-dir", str(tmp_path), "db", "upgrade")
    assert code == 0 and f"revision {head_revision()}" in out
    code, out, _ = run_cli(capsys, "--data-dir", str(tmp_path), "db", "current")
    assert re.search(r"current: (\w+)\s+head: \1", out)


def test_init_tiny_chat_and_score(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out_dir = tmp_path / "tiny-copy"
    code, out, _ = run_cli(capsys, "model", "init-tiny", "--out", str(out_dir))
    assert (
        code == 0 and (out_dir / "model.safetensors").is_file() and (out_dir / "tokenizer.model.v3").is_file()
    )

    code, out, _ = run_cli(
        capsys,
        "--model",
        str(out_dir),
        "chat",
        "-m",
        "Hello",
        "-m",
        "And then?",
        "--max-tokens",
        "5",
        "--seed",
        "1",
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "you> Hello" and lines[1].startswith("model> ") and lines[2] == "you> And then?"

    code, out, _ = run_cli(
        capsys, "--model", str(out_dir), "score", "--prompt", "How often?", "--continuation", "Never",
        "--continuation", "Every single day", "--json",
    )  # fmt: skip
    rows = json.loads(out)
    assert code == 0 and [r["continuation"] for r in rows] == ["Never", "Every single day"]
    assert all(r["logprob"] < 0 and r["tokens"] >= 1 for r in rows)


def test_missing_adapter_unreachable_server_and_no_template(capsys, tmp_path, tiny_dir) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli(
        capsys, "--model", str(tiny_dir), "chat", "-m", "hi", "--adapter", str(tmp_path / "nope")
    )
    assert code == 1 and "error: adapter folder" in err and "does not exist" in err

    with closed_port() as port:
        url = f"http://127.0.0.1:{port}"
        code, _, err = run_cli(capsys, "--backend", "openai", "--base-url", url, "chat", "-m", "hi")
    assert code == 1 and err.startswith(f"error: cannot reach the OpenAI-compatible server at {url}")

    code, _, err = run_cli(capsys, "--backend", "openai", "chat", "-m", "hi")
    assert code == 1 and "needs a server URL" in err

    plain = tmp_path / "no-template"
    plain.mkdir()
    shutil.copy(tiny_dir / "config.json", plain / "config.json")
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    ).save_pretrained(plain)
    code, _, err = run_cli(capsys, "--model", str(plain), "chat", "-m", "hi")
    assert code == 1 and "has no chat template" in err and "Traceback" not in err


def test_serve_command_answers_over_http(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    served = ServedProcess([*ACADEMY, "--model", str(tiny_dir), "serve", "--served-name", "patient-zero"])
    try:
        assert served.url.startswith("http://127.0.0.1:") and not served.url.endswith(":0")
        models = httpx.get(f"{served.url}/v1/models").json()
        assert [m["id"] for m in models["data"]] == ["patient-zero"]
    finally:
        served.process.terminate()
        served.process.wait(timeout=20)


def test_demo_prints_a_reply_and_log_likelihoods(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(capsys, "--data-dir", str(tmp_path / "demo"), "demo")
    assert code == 0
    assert re.search(r"patient>\s+\S", out)
    scores = re.findall(r"^\s+(-\d+\.\d+)\s+\((\d+) tokens\)\s+(.+)$", out, flags=re.MULTILINE)
    assert [s[2] for s in scores] == [
        "Not at all",
        "Several days",
        "More than half the days",
        "Nearly every day",
    ]
    assert all(float(s[0]) < 0 for s in scores)
    assert "meaningless" in out
    assert Path(tmp_path / "demo" / "academy.db").is_file()
