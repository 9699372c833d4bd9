"""Cost of scoring one instrument for one respondent: logprob mode against sample mode at matched precision,
and the effect of batching and shared-prefix (KV cache) reuse in logprob mode. Tiny model, CPU.

Matched precision: sample mode estimates the expected total from 2 x N answers per item; its 95% CI half-width
is 1.96 * sqrt(sum of item variances / 2N). N is chosen so that this half-width is at most --half-width points
(the item variances come from the logprob run's distributions). Logprob mode has no sampling error at all, so
this comparison favours sample mode.

Run: ``python -m benchmarks.assess [--instrument phq-9] [--half-width 0.5]``
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch


class ForwardCounter:
    """Counts forward passes of the model (each batch counts once)."""

    def __init__(self, model: Any) -> None:
        self.count = 0
        model.register_forward_hook(self._hook)

    def _hook(self, *_: Any) -> None:
        self.count += 1


def timed(counter: ForwardCounter, action: Any) -> tuple[Any, float, int]:
    before, started = counter.count, time.perf_counter()
    result = action()
    return result, time.perf_counter() - started, counter.count - before


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="logprob vs sample mode on the tiny model")
    parser.add_argument("--instrument", default="phq-9")
    parser.add_argument("--half-width", type=float, default=0.5)
    args = parser.parse_args(argv)

    from jedi_academy.assessment.administer import administer_logprob, administer_sample
    from jedi_academy.instruments import load_instrument
    from jedi_academy.llm.tiny import build_tiny_model
    from jedi_academy.llm.transformers_backend import TransformersLLM

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        llm = TransformersLLM(build_tiny_model(Path(folder) / "tiny"), device="cpu", dtype="float32")
        counter = ForwardCounter(llm.model)
        instrument = load_instrument(args.instrument)
        persona = "You are Sam, in therapy for low mood. Answer as yourself."

        administer_logprob(llm, instrument, persona)  # warm-up
        rows = []
        llm.max_batch_tokens, llm.reuse_prefix_cache = 1, False  # one request per forward pass
        result, seconds, passes = timed(counter, lambda: administer_logprob(llm, instrument, persona))
        rows.append(("logprob, one request at a time", seconds, passes))
        llm.max_batch_tokens = 16384
        _, seconds, passes = timed(counter, lambda: administer_logprob(llm, instrument, persona))
        rows.append(("logprob, batched", seconds, passes))
        llm.reuse_prefix_cache = True
        _, seconds, passes = timed(counter, lambda: administer_logprob(llm, instrument, persona))
        rows.append(("logprob, batched + shared prefix", seconds, passes))
        logprob_seconds, logprob_passes = seconds, passes

        scored = {item.id for item in instrument.scored_items}
        variance = 0.0
        for outcome in result.items:
            if outcome.item_id in scored:
                item = instrument.item(outcome.item_id)
                mean = outcome.expected_value
                variance += sum(
                    p * (item.value_of(code) - mean) ** 2 for code, p in outcome.distribution.items()
                )
        samples = max(1, math.ceil((1.96**2) * variance / (args.half_width**2) / 2))
        _, seconds, passes = timed(
            counter,
            lambda: administer_sample(llm, instrument, persona, samples=samples, temperature=1.0, seed=0),
        )
        rows.append((f"sample, N={samples} per item per order", seconds, passes))

    print(f"{instrument.id}, one persona, tiny Mistral on CPU; matched precision: 95% CI half-width "
          f"<= {args.half_width} points needs N = {samples} samples per item per order")  # fmt: skip
    for label, seconds, passes in rows:
        print(f"  {label:40} {seconds:8.2f} s  {passes:6d} forward passes")
    sample_seconds, sample_passes = rows[-1][1], rows[-1][2]
    time_ratio, pass_ratio = sample_seconds / logprob_seconds, sample_passes / logprob_passes
    print(f"  sample / logprob: {time_ratio:.1f}x the time, {pass_ratio:.1f}x the forward passes "
          "(target: logprob at least 10x cheaper)")  # fmt: skip
    print(f"  batching + prefix reuse vs one at a time: {rows[0][1] / logprob_seconds:.1f}x faster")


if __name__ == "__main__":
    main()
