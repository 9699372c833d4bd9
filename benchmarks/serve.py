"""Many patients on one server: concurrent therapy sessions, each on its own LoRA adapter, against an
OpenAI-compatible server, as the number of distinct adapters grows.

Every round runs the same sessions (``--sessions`` concurrent conversations of ``--turns`` turns, each reply
``--max-tokens`` tokens, forced to full length with vLLM's ``min_tokens`` so that rounds do equal work); the
baseline round sends every session to the base model, then rounds with 1, 2, 4, ... adapters spread the
sessions over that many adapters. It reports requests/s and p50/p95 latency per round and their ratios to the
baseline measured in the same run: what serving N patients costs over serving one model.

By default it starts ``academy serve --runtime-lora`` on the tiny model on loopback and loads random-weight
adapters through ``/v1/load_lora_adapter``. ``--base-url`` measures a running server instead (a vLLM server on
a GPU started with ``academy serve-config``'s script), with ``--adapter-names`` from ``academy checkpoints
adapters``.

Run: ``python -m benchmarks.serve [--sessions 8] [--turns 3] [--max-tokens 16] [--adapters 1,2,4,8]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

QUESTIONS = [
    "How have you been since we last met?",
    "What was the hardest moment this week?",
    "How did you sleep?",
    "What would you like to work on today?",
]


@dataclass(frozen=True)
class Round:
    label: str
    adapters: int
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def session(client: httpx.Client, model: str, number: int, turns: int, max_tokens: int) -> list[float]:
    """One conversation; returns each reply's latency in seconds."""
    messages = [{"role": "system", "content": f"You are patient {number}, in therapy for low mood."}]
    latencies = []
    for turn in range(turns):
        messages.append({"role": "user", "content": QUESTIONS[(number + turn) % len(QUESTIONS)]})
        payload = {
            "model": model,
            "messages": messages,
            "max_tokens": max_tokens,
            "min_tokens": max_tokens,
            "temperature": 0.7,
            "seed": number * 100 + turn,
        }
        started = time.perf_counter()
        response = client.post("/v1/chat/completions", json=payload)
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
        messages.append({"role": "assistant", "content": response.json()["choices"][0]["message"]["content"]})
    return latencies


def run_round(url: str, key: str | None, models: list[str], args: argparse.Namespace, label: str) -> Round:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.sessions) as pool:
            jobs = [
                pool.submit(session, client, models[n % len(models)], n, args.turns, args.max_tokens)
                for n in range(args.sessions)
            ]
            latencies = [latency for job in jobs for latency in job.result()]
        seconds = time.perf_counter() - started
    adapters = 0 if models == [args.model] else len(set(models))
    return Round(label, adapters, len(latencies), seconds, latencies)


def make_adapters(base: Path, folder: Path, count: int) -> list[Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    paths = []
    for number in range(count):
        torch.manual_seed(number)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        config = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False)
        path = folder / f"adapter-{number}"
        get_peft_model(model, config).save_pretrained(path)
        paths.append(path)
    return paths


def start_local_server(model_dir: Path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "jedi_academy.cli", "--model", str(model_dir), "serve"]
    command += ["--port", str(port), "--served-name", "tiny", "--runtime-lora"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("academy serve did not start")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="concurrent sessions on many adapters against one server")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--adapters", default="1,2,4,8", help="adapter counts to measure")
    parser.add_argument("--base-url", help="measure this running server instead of a local academy serve")
    parser.add_argument("--model", default="tiny", help="the base model's served name")
    parser.add_argument("--adapter-names", default="", help="served adapter names (with --base-url)")
    parser.add_argument("--api-key", default=os.environ.get("VLLM_API_KEY"))
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.adapters.split(",") if c]

    with tempfile.TemporaryDirectory() as scratch:
        process = None
        if args.base_url:
            url, names = args.base_url, [n for n in args.adapter_names.split(",") if n]
            counts = [c for c in counts if c <= len(names)]
        else:
            from jedi_academy.llm.tiny import build_tiny_model

            model_dir = build_tiny_model(Path(scratch) / "tiny")
            folders = make_adapters(model_dir, Path(scratch), max(counts, default=0))
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            process = start_local_server(model_dir, port)
            names = [f"patient-{n}" for n in range(len(folders))]
            for name, folder in zip(names, folders, strict=True):
                body = {"lora_name": name, "lora_path": str(folder)}
                httpx.post(f"{url}/v1/load_lora_adapter", json=body, timeout=120).raise_for_status()
        try:
            run_round(url, args.api_key, [args.model], args, "warm-up")
            rounds = [run_round(url, args.api_key, [args.model], args, "baseline: base model only")]
            for count in counts:
                rounds.append(run_round(url, args.api_key, names[:count], args, f"{count} adapter(s)"))
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=60)

    where = args.base_url or "academy serve, tiny model, CPU, loopback"
    print(
        f"{args.sessions} concurrent sessions x {args.turns} turns x {args.max_tokens} tokens against {where}"
    )
    baseline = rounds[0]
    print(f"  {'round':28} {'req/s':>8} {'p50 s':>8} {'p95 s':>8} {'req/s vs base':>14} {'p95 vs base':>12}")
    for row in rounds:
        speed = row.per_second / baseline.per_second
        tail = row.percentile(0.95) / baseline.percentile(0.95)
        print(
            f"  {row.label:28} {row.per_second:8.2f} {row.percentile(0.5):8.3f} {row.percentile(0.95):8.3f} "
            f"{speed:13.2f}x {tail:11.2f}x"
        )
    mean = statistics.fmean(baseline.latencies)
    print(f"  baseline mean latency {mean:.3f} s over {baseline.requests} requests")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
