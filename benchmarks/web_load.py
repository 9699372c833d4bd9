"""Several therapists on one `academy web`: time to the patient's first token alone and under load.

Setup (not timed): a scratch data directory with the tiny model (or, with ``--base-url``, an OpenAI-compatible
server such as vLLM or ``academy serve`` as every patient), one persona, the base model as the patient
checkpoint, and N therapists with accounts and a case each; then ``academy web`` in a subprocess on a free
loopback port.

Measured over HTTP, as a browser does it: each therapist signs in and opens a session; first therapist 0 alone
sends five messages (``solo_ttft_s``: the median time from sending to the first ``piece`` event of the
reply's stream); then all N talk for ``--seconds``: send a message, read the stream to its ``done`` event,
"think" for a seeded 1-3 s, send the next. Therapist 0 sends long messages (3,000 characters), the others
short ones. Printed: ``solo_ttft_s``, ``p50_ttft_s``, ``p95_ttft_s``, ``max_ttft_s``, ``p95_over_solo``,
``p95_ttft_short_s`` and ``p95_short_over_solo`` (the same over the short-message therapists only, whose
messages are like the solo ones), ``solo_long_ttft_s`` (therapist 0 alone sending long messages, after the
short ones), ``p95_ttft_long_s`` and ``p95_long_over_solo_long`` (the long messages under load against
alone), ``requests``, ``refused`` (a message answered with an error, or a reply that
ended with one) and ``starved``:
requests during whose wait another therapist had two or more later-sent requests answered first (more than
one turn behind that therapist; the fair queue must keep it at 0).

Run: ``python -m benchmarks.web_load --therapists 8 --json`` (``--seconds 10`` for a quick look).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "correct horse battery staple"
SHORT = ["How was your week?", "What felt hardest?", "Who did you see?", "What helped, even a little?"]
LONG = "I want to understand this properly, so tell me about it in your own words. " * 40  # ~3,000 chars
SOLO_MESSAGES = 5  # the solo figure is their median (one slow sample on a busy machine does not set it)
SOLO_LONG_MESSAGES = 6  # the long solo figure is the median of the last three, the session being full by then
KEYS = ("solo_ttft_s", "p50_ttft_s", "p95_ttft_s", "max_ttft_s", "p95_over_solo", "requests", "refused")


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    case_id: str


@dataclass
class Request:
    therapist: int
    sent: float
    first: float | None = None  # the first piece of the reply (or its end, when it comes whole)
    done: float | None = None
    refused: bool = False


@dataclass
class Therapist:
    number: int
    account: Account
    url: str
    client: httpx.Client = field(init=False)
    token: str = ""
    session: str = ""

    def sign_in(self) -> None:
        self.client = httpx.Client(base_url=self.url, follow_redirects=False, timeout=300)
        self.token = csrf(self.client.get("/login").text)
        form = {"email": self.account.email, "password": self.account.password, "csrf_token": self.token}
        signed = self.client.post("/login", data=form)
        if signed.status_code != 303:
            raise RuntimeError(f"{self.account.email} could not sign in ({signed.status_code})")
        self.token = csrf(self.client.get("/").text)
        opened = self.client.post(f"/cases/{self.account.case_id}/sessions", data={"csrf_token": self.token})
        if opened.status_code != 303:
            raise RuntimeError(f"{self.account.email} could not open a session ({opened.status_code})")
        self.session = opened.headers["location"]

    def say(self, text: str) -> Request:
        request = Request(self.number, time.monotonic())
        said = self.client.post(
            f"{self.session}/say", data={"csrf_token": self.token, "text": text}, headers={"HX-Request": "1"}
        )
        if said.status_code != 200:
            request.refused = True
            return request
        with self.client.stream("GET", f"{self.session}/stream") as stream:
            event = ""
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event in ("piece", "done"):
                    if request.first is None:
                        request.first = time.monotonic()
                    if event == "done":
                        request.done = time.monotonic()
                        request.refused = json.loads(line[5:]).get("error") is not None
                        break
        if request.done is None:
            request.refused = True
        return request

    def end(self) -> None:
        self.client.post(f"{self.session}/end", data={"csrf_token": self.token})


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if found is None:
        raise RuntimeError("no CSRF field on the page")
    return found.group(1)


def ttft(request: Request) -> float | None:
    return None if request.first is None else request.first - request.sent


def starved(requests: list[Request]) -> int:
    """Requests during whose wait another therapist had two or more requests, sent later, answered first."""
    count = 0
    for mine in requests:
        if mine.first is None:
            continue
        overtaken: dict[int, int] = {}
        for other in requests:
            if other.therapist == mine.therapist or other.first is None:
                continue
            if other.sent > mine.sent and other.first < mine.first:
                overtaken[other.therapist] = overtaken.get(other.therapist, 0) + 1
        count += any(n > 1 for n in overtaken.values())
    return count


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def drive(
    url: str, accounts: list[Account], *, seconds: float, seed: int = 0, end: bool = False
) -> dict[str, Any]:
    """Run the load against a running web app; the figures as a dict. ``end``: end the sessions afterwards
    (a scratch data directory need not)."""
    therapists = [Therapist(number, account, url) for number, account in enumerate(accounts)]
    for therapist in therapists:
        therapist.sign_in()
    solo = [ttft(therapists[0].say(SHORT[n % len(SHORT)])) for n in range(SOLO_MESSAGES)]
    solo_ttft = statistics.median(t for t in solo if t is not None)
    # the long messages alone too, once the session is as full as it gets under load (the last ones)
    solo_long = [ttft(therapists[0].say(LONG)) for _ in range(SOLO_LONG_MESSAGES)][-3:]
    solo_long_ttft = statistics.median(t for t in solo_long if t is not None)
    requests: list[Request] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def talk(therapist: Therapist) -> None:
        thinking = random.Random(seed * 1000 + therapist.number)
        number = 0
        while time.monotonic() < deadline:
            text = LONG if therapist.number == 0 else SHORT[number % len(SHORT)]
            request = therapist.say(text)
            with lock:
                requests.append(request)
            number += 1
            time.sleep(thinking.uniform(1.0, 3.0))  # the therapist reads the reply and thinks

    threads = [threading.Thread(target=talk, args=(t,)) for t in therapists]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for therapist in therapists:
        if end:
            therapist.end()
        therapist.client.close()
    times = [t for t in (ttft(r) for r in requests) if t is not None]
    p95 = percentile(times, 0.95) if times else float("nan")
    # the short-message therapists alone: what solo_ttft_s (short messages) compares with
    short = [t for t in (ttft(r) for r in requests if r.therapist != 0) if t is not None]
    p95_short = percentile(short, 0.95) if short else None
    long = [t for t in (ttft(r) for r in requests if r.therapist == 0) if t is not None]
    p95_long = percentile(long, 0.95) if long else None
    return {
        "therapists": len(accounts),
        "seconds": seconds,
        "solo_ttft_s": round(solo_ttft, 4),
        "p50_ttft_s": round(percentile(times, 0.5), 4) if times else None,
        "p95_ttft_s": round(p95, 4) if times else None,
        "max_ttft_s": round(max(times), 4) if times else None,
        "p95_over_solo": round(p95 / solo_ttft, 2) if times and solo_ttft > 0 else None,
        "p95_ttft_short_s": round(p95_short, 4) if p95_short is not None else None,
        "p95_short_over_solo": (
            round(p95_short / solo_ttft, 2) if p95_short is not None and solo_ttft > 0 else None
        ),
        "solo_long_ttft_s": round(solo_long_ttft, 4),
        "p95_ttft_long_s": round(p95_long, 4) if p95_long is not None else None,
        "p95_long_over_solo_long": (
            round(p95_long / solo_long_ttft, 2) if p95_long is not None and solo_long_ttft > 0 else None
        ),
        "requests": len(requests),
        "refused": sum(r.refused for r in requests),
        "starved": starved(requests),
    }


# ---------------------------------------------------------------- setup (not timed)


def prepare(data_dir: Path, model: str, therapists: int) -> list[Account]:
    """Personas, the base model as the patient checkpoint, therapists with accounts and a case each."""
    from benchmarks.loop import card_v1
    from jedi_academy.config import load_settings
    from jedi_academy.personas import PersonaCardV1
    from jedi_academy.sessions import add_therapist, open_case
    from jedi_academy.specializations.loading import packaged_specializations
    from jedi_academy.specializations.sync import sync_specializations
    from jedi_academy.store import open_database
    from jedi_academy.store.ledger import append_record
    from jedi_academy.store.models import Checkpoint, Persona
    from jedi_academy.web import accounts

    database = open_database(load_settings(data_dir=data_dir, model=model))
    sync_specializations(database, packaged_specializations().values())
    with database.session() as session:
        card = PersonaCardV1.model_validate(card_v1("Robin"))
        session.add(
            Persona(
                id="p-robin",
                specialization_id="depression",
                card=card.model_dump(),
                backend="transformers",
                model="tiny",
                prompt_version="bench",
            )
        )
        base = Checkpoint(
            id="ckpt-base", specialization_id="depression", kind="base", base_model=model, hyperparameters={},
            metrics={},
        )  # fmt: skip
        session.add(base)
        append_record(session, base)
    made = []
    for number in range(therapists):
        therapist = add_therapist(database, f"Therapist {number}")
        email = f"therapist{number}@example.org"
        accounts.accept_invite(database, accounts.invite(database, therapist.id, email), PASSWORD)
        case = open_case(database, therapist.id, "depression", persona="p-robin", checkpoint="ckpt-base")
        made.append(Account(email, PASSWORD, case.id))
    return made


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_web(data_dir: Path, model: str, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "jedi_academy.cli", "--data-dir", str(data_dir), "--model", model]
    if args.base_url:
        command += ["--backend", "openai", "--base-url", args.base_url]
    else:
        command += ["--device", "cpu"]
    command += ["web", "--port", str(port), "--max-tokens", str(args.max_tokens), "--no-feedback"]
    command += ["--batch-size", str(args.batch_size), "--concurrency", str(args.batch_size)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"academy web stopped: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("academy web did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="N therapists on one academy web: time to first token")
    parser.add_argument("--therapists", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=64, help="the patient's reply length")
    parser.add_argument("--batch-size", type=int, default=8, help="academy web --batch-size/--concurrency")
    parser.add_argument("--base-url", help="an OpenAI-compatible server as the patient (vLLM, academy serve)")
    parser.add_argument("--model", help="the model (with --base-url: its served name); default the tiny one")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args(argv)
    if args.therapists < 1 or args.seconds <= 0:
        parser.error("--therapists must be at least 1 and --seconds positive")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model = args.model
        if model is None:
            from jedi_academy.llm.tiny import build_tiny_model

            model = str(build_tiny_model(root / "tiny"))
        accounts = prepare(root / "data", model, args.therapists)
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        process, url = start_web(root / "data", model, args)
        try:
            figures = drive(url, accounts, seconds=args.seconds, seed=args.seed)
        finally:
            process.terminate()
            process.wait(timeout=30)
    figures["backend"] = "openai" if args.base_url else "transformers (tiny, CPU)"
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>15}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
