"""One source for every training option: the range `academy finetune --help` shows is the range the command
enforces (a usage error, exit 2, whose one error line names it) and the range TrainingConfig enforces; a
value at the edge of the range passes both."""

import re

import pytest
from pydantic import ValidationError

from jedi_academy.cli import main
from jedi_academy.finetune import bounds
from jedi_academy.finetune.config import TrainingConfig

BASE = ["finetune", "--dry-run", "--base", "mistralai/Mistral-7B-v0.3", "--json"]

# (flag, TrainingConfig field, the bound, a value at the edge of the range, a value just outside it)
CASES = [
    ("--weight-decay", "weight_decay", bounds.WEIGHT_DECAY, "1", "11"),
    ("--max-seq-len", "max_seq_len", bounds.MAX_SEQ_LEN, "16", "10"),
    ("--lr", "learning_rate", bounds.LEARNING_RATE, "1", "0"),
    ("--dropout", "lora_dropout", bounds.LORA_DROPOUT, "0.99", "1"),
    ("--rank", "lora_rank", bounds.LORA_RANK, "512", "513"),
    ("--warmup", "warmup_fraction", bounds.WARMUP_FRACTION, "0", "1.5"),
    ("--steps", "max_steps", bounds.MAX_STEPS, "1", "0"),
]


def _help_text(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["finetune", "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())  # the help wraps lines: compare word by word


def test_the_issue_examples_exit_2_naming_the_range_the_help_shows(capsys: pytest.CaptureFixture) -> None:
    shown = _help_text(capsys)
    assert "AdamW weight decay. [range 0<=x<=1]" in shown
    assert "Longest example in tokens (earlier turns are cut first). [range 16<=x<=1048576]" in shown

    assert main([*BASE, "--weight-decay", "11"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == ["error: Invalid value for '--weight-decay': 11.0 is not in the range 0<=x<=1"]

    assert main([*BASE, "--max-seq-len", "10"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == ["error: Invalid value for '--max-seq-len': 10 is not in the range 16<=x<=1048576"]


@pytest.mark.parametrize(("flag", "field", "bound", "inside", "outside"), CASES, ids=[c[0] for c in CASES])
def test_help_cli_and_config_agree(
    capsys: pytest.CaptureFixture[str], flag: str, field: str, bound: bounds.Bound, inside: str, outside: str
) -> None:
    shown = _help_text(capsys)
    ranged = re.search(re.escape(flag) + r" <\w+> .*?\[range ([^\]]+)\]", shown)
    assert ranged is not None and ranged.group(1) == bound.describe()

    assert main([*BASE, flag, inside]) == 0  # shown as allowed: accepted by the command and the config
    capsys.readouterr()
    TrainingConfig(**{field: float(inside) if "." in inside else int(inside)})
    assert main([*BASE, flag, outside]) == 2  # refused as a usage error, naming the same range
    err = capsys.readouterr().err
    assert f"is not in the range {bound.describe()}" in err and "Traceback" not in err
    with pytest.raises(ValidationError):
        TrainingConfig(**{field: float(outside)})


def test_the_defaults_are_the_bounds_defaults() -> None:
    config = TrainingConfig()
    assert config.weight_decay == bounds.WEIGHT_DECAY.default
    assert config.max_seq_len == bounds.MAX_SEQ_LEN.default
    assert config.learning_rate == bounds.LEARNING_RATE.default
    assert config.max_steps == bounds.MAX_STEPS.default
    assert config.lora_rank == bounds.LORA_RANK.default
    assert config.batch_tokens == bounds.DEFAULT_BATCH_TOKENS


def test_range_notation() -> None:
    assert bounds.Bound(0, ge=0, le=1).describe() == "0<=x<=1"
    assert bounds.Bound(0, gt=0, le=1).describe() == "0<x<=1"
    assert bounds.Bound(0, ge=16).describe() == "x>=16"
    assert bounds.Bound(0, gt=0).describe() == "x>0"
    assert bounds.Bound(0, ge=0, lt=1).describe() == "0<=x<1"
    assert not bounds.Bound(0, ge=0).contains(float("nan"))
    assert not bounds.Bound(0, ge=0).contains(float("inf"))
