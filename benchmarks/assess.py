"""Cost of scoring one instrument for one respondent: logprob mode against sample mode, each on its best path,
matched on the standard error of the expected total that `academy assess` reports. Tiny model, CPU.

* logprob mode: every label of every cyclic shift scored as a complete reply. Two paths are timed (one big
  left-padded batch; the shared-prompt KV-cache reuse that is the default) and the faster one is used. Its
  probabilities are exact, so the standard error it reports is the spread over option orders alone.
* sample mode: batched constrained generation, all replies of a prompt in one call (probes off). Its standard
  error (bootstrap over orders and replies) can approach the logprob one but never go below it; N, the
  replies per item per shift, doubles from 5 until it is within ``--tolerance`` (10%) of the logprob mode's,
  as the product would be run to reach that precision.

Counted for both: wall time, forward passes and token-forwards (tokens pushed through the model: prompt,
padding and generated tokens alike). Ratios are printed, never asserted.

The attention items (``assessment/attention.py``) are their own line: the same logprob path with and without
them, their extra scoring requests, forward passes, token-forwards and time in % of the administration without
them (the instrument's items alone). The modes are compared without them: they differ in how they ask, not
in what. ``--logprob-only`` skips sample mode.

Run: ``python -m benchmarks.assess [--instrument phq-9] [--tolerance 0.1]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch


class ForwardCounter:
    """Counts forward passes of the model (each batch counts once) and the tokens they process."""

    def __init__(self, model: Any) -> None:
        self.passes = 0
        self.tokens = 0
        model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, _module: Any, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.passes += 1
        self.tokens += int(ids.numel()) if ids is not None else 0


def measure(counter: ForwardCounter, action: Any) -> tuple[Any, float, int, int]:
    passes, tokens, started = counter.passes, counter.tokens, time.perf_counter()
    result = action()
    return result, time.perf_counter() - started, counter.passes - passes, counter.tokens - tokens


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="logprob vs sample mode on the tiny model")
    parser.add_argument("--instrument", default="phq-9")
    parser.add_argument("--tolerance", type=float, default=0.1)
    parser.add_argument("--max-samples", type=int, default=80)
    parser.add_argument("--logprob-only", action="store_true", help="skip sample mode")
    args = parser.parse_args(argv)

    from jedi_academy.assessment.administer import administer_logprob, administer_sample
    from jedi_academy.assessment.attention import plan_attention
    from jedi_academy.assessment.prompts import askable_items
    from jedi_academy.assessment.summary import summarise
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

        logprob_rows = []
        for label, reuse in (("one batch", False), ("shared-prompt cache", True)):
            llm.reuse_prefix_cache = reuse
            run = lambda: administer_logprob(llm, instrument, persona)  # noqa: E731
            result, seconds, passes, tokens = measure(counter, run)
            logprob_rows.append((f"logprob, {label}", seconds, passes, tokens, result))
        best = min(logprob_rows, key=lambda row: row[1])
        llm.reuse_prefix_cache = best[0].endswith("cache")
        plan = plan_attention(instrument, askable_items(instrument), 0)
        with_attention = measure(counter, lambda: administer_logprob(llm, instrument, persona, plan=plan))
        logprob_se = summarise(instrument, best[4].items, 0)["standard_error"]
        target = (1 + args.tolerance) * logprob_se

        samples, sample_row = 5, None
        while not args.logprob_only:
            result, seconds, passes, tokens = measure(
                counter,
                lambda n=samples: administer_sample(
                    llm, instrument, persona, samples=n, temperature=1.0, seed=0, probes=0
                ),
            )
            error = summarise(instrument, result.items, 0)["standard_error"]
            sample_row = (f"sample, N={samples} per item per shift", seconds, passes, tokens, error)
            if (error is not None and error <= target) or samples >= args.max_samples:
                break
            samples *= 2

    print(f"{instrument.id}, one persona, tiny Mistral on CPU; matched: sample mode's standard error of the "
          f"expected total within {args.tolerance:.0%} of logprob mode's "
          f"({logprob_se:.2f}, so <= {target:.2f})")  # fmt: skip
    for label, seconds, passes, tokens, _ in logprob_rows:
        print(
            f"  {label:38} {seconds:8.2f} s  {passes:6d} passes  {tokens:9d} token-forwards  "
            f"SE {logprob_se:.2f}"
        )
    if sample_row is not None:
        label, seconds, passes, tokens, error = sample_row
        if error is None or error > target:
            print(f"  (sample mode missed the target by N = {args.max_samples}: its cost is a lower bound)")
        print(f"  {label:38} {seconds:8.2f} s  {passes:6d} passes  {tokens:9d} token-forwards  "
              f"SE {error:.2f}")  # fmt: skip
        print(f"  sample / best logprob path: {seconds / best[1]:.1f}x the time, "
              f"{passes / best[2]:.1f}x the passes, {tokens / best[3]:.1f}x the token-forwards")  # fmt: skip
    result, seconds, passes, tokens = with_attention
    if plan is None:
        print(f"  attention items: none fit {instrument.id}'s response scale")
        return
    extra_requests = result.attention_calls
    base_requests = result.model_calls - extra_requests
    print(f"  attention items ({len(plan.items)} of {plan.version}, {best[0]}): "
          f"+{extra_requests} scoring requests ({100 * extra_requests / base_requests:.0f}%), "
          f"+{passes - best[2]} forward passes ({100 * (passes - best[2]) / best[2]:.0f}%), "
          f"+{tokens - best[3]} token-forwards ({100 * (tokens - best[3]) / best[3]:.0f}%), "
          f"+{seconds - best[1]:.2f} s ({100 * (seconds - best[1]) / best[1]:.0f}%) "
          f"of a {instrument.id} administration without them")  # fmt: skip


if __name__ == "__main__":
    main()
