"""The one source of every training hyperparameter's default and range.

``TrainingConfig`` (and the pipeline's ``[training]`` section) build their pydantic fields from these bounds;
``academy finetune`` builds its options from the same ones, so the range its ``--help`` shows is the range it
enforces, as a usage error (exit status 2) before any work starts.

Kept free of pydantic and typer imports: the CLI loads this module on every start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bound:
    """A default and an interval: ``ge``/``le`` closed ends, ``gt``/``lt`` open ones (None: unbounded)."""

    default: Any
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def describe(self) -> str:
        """The interval in click's notation (``0<=x<=1``, ``x>=16``, ``0<x<1``)."""
        low = high = ""
        if self.ge is not None or self.gt is not None:
            low = f"{_number(self.ge)}<=" if self.ge is not None else f"{_number(self.gt)}<"
        if self.le is not None or self.lt is not None:
            high = f"<={_number(self.le)}" if self.le is not None else f"<{_number(self.lt)}"
        if low and not high:  # one-sided: click writes x>=16, not 16<=x
            return f"x>={_number(self.ge)}" if self.ge is not None else f"x>{_number(self.gt)}"
        return f"{low}x{high}" if low or high else "any number"

    def contains(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return not (
            (self.ge is not None and value < self.ge)
            or (self.gt is not None and value <= self.gt)
            or (self.le is not None and value > self.le)
            or (self.lt is not None and value >= self.lt)
        )

    def field(self, **extra: Any) -> Any:
        """The pydantic ``Field`` with this default and range."""
        from pydantic import Field

        ends = {name: getattr(self, name) for name in ("ge", "gt", "le", "lt")}
        return Field(self.default, **{name: end for name, end in ends.items() if end is not None}, **extra)

    def option(self, flag: str) -> dict[str, Any]:
        """``typer.Option`` keyword arguments that enforce this range: a value outside it is a usage error
        (exit 2) whose one line names the range, as the help does (``[... ; 0<=x<=1]``)."""
        import typer

        def check(value: Any) -> Any:
            if value is not None and not self.contains(value):
                message = f"{value} is not in the range {self.describe()}"
                raise typer.BadParameter(message, param_hint=f"'{flag}'")
            return value

        return {"callback": check, "show_default": True}


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}"


def range_help(text: str, bound: Bound) -> str:
    """Option help that ends with the range enforced."""
    return f"{text} [range {bound.describe()}]"


# mistral-finetune's 7B example: rank 64, lr 6e-5, 300 steps, weight decay 0.1, 5% warm-up, clipping at 1.0
LORA_RANK = Bound(64, ge=1, le=512)
LORA_ALPHA = Bound(None, gt=0, le=1e6)  # None: 2 x rank (scaling 2.0)
LORA_DROPOUT = Bound(0.0, ge=0, lt=1)
LEARNING_RATE = Bound(6e-5, gt=0, le=1)
WEIGHT_DECAY = Bound(0.1, ge=0, le=1)
WARMUP_FRACTION = Bound(0.05, ge=0, le=1)
MAX_STEPS = Bound(300, ge=1)
DEFAULT_BATCH_TOKENS = 16384  # what batch_tokens None means (or max_seq_len, when that is longer)
BATCH_TOKENS = Bound(None, ge=16, le=1 << 24)  # padded tokens per micro-batch
BATCH_SIZE = Bound(None, ge=1)  # optional cap on examples per micro-batch
GRAD_ACCUMULATION = Bound(2, ge=1)
MAX_SEQ_LEN = Bound(2048, ge=16, le=1 << 20)
MAX_GRAD_NORM = Bound(1.0, gt=0)
EVAL_EVERY = Bound(100, ge=1)
SAVE_EVERY = Bound(50, ge=1)
