"""Ingest throughput on a synthetic month: naive baseline vs ``academy ingest`` vs decompression floor.

The dump copies RC_2015-01: the same 21 fields in shuffled key order, ``created_utc`` as a quoted string, a
body-length distribution with the real mean (170 characters) and a long tail, about 1% of lines in the
specializations' subreddits, and bz2 compression. Three timings per round:

(a) naive: stdlib ``bz2.open`` + ``json.loads`` on every line + the same keep rules, pseudonyms and scrubbing;
(b) ``academy ingest --json`` as a subprocess (the rate uses the pipeline time it reports; wall time with
    interpreter start-up, imports and database set-up is printed too);
(c) the decompression floor: ``lbzip2 -d -n WORKERS > /dev/null``, or the best parallel decoder available.

Run: ``python -m benchmarks.ingest [--lines N] [--rounds R] [--workers W]``.
"""

from __future__ import annotations

import argparse
import bz2
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_LINES = 300_000
GENERATOR_VERSION = 2  # part of the cache key: bump when the synthetic data changes
MATCH_RATE = 0.01
# Canonical case, as in the dumps; the first ten are the shipped specializations' subreddits.
MATCHING = [
    "depression", "Anxiety", "socialanxiety", "ADHD", "autism",
    "aspergers", "ptsd", "CPTSD", "NPD", "narcissism",
]  # fmt: skip
OTHERS = [
    "AskReddit", "funny", "pics", "leagueoflegends", "nfl", "worldnews", "gaming", "videos", "todayilearned",
    "news", "DotA2", "soccer", "movies", "politics", "exmormon", "nba", "hockey", "SquaredCircle",
    "GlobalOffensive", "pcmasterrace", "depressionregimens", "ADHD_Memes", "autismtranslated",
]  # fmt: skip
SYLLABLES = "ka lo mi ne su ta ri po an el is or ur th ing er ed st ch sh ly ou ea pr"
COMMON_WORDS = "the a I to and of it is that you in my for this but just have was not me be so like"
TARGET_SPEEDUP = 2.5
TARGET_FLOOR_RATIO = 1.3
TARGET_PEAK_BYTES = 1 << 30
CLEAN_CORES = 1.7  # the floor must keep this many of two cores busy for a round to count as unloaded


# ---------------------------------------------------------------- the synthetic dump


class Corpus:
    """Pseudo-English with a Zipf-like word distribution, tuned so bz2 compresses it about as well as the
    real dump (5.8x)."""

    def __init__(self, rng: random.Random) -> None:
        syllables = SYLLABLES.split()
        common = COMMON_WORDS.split()
        rare = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(30_000)]
        self.words = common + rare
        weights = [0.3 / len(common)] * len(common)
        # P(rank <= k) = (k / N) ** (1 / 1.15) among the rare words.
        previous = 0.0
        for k in range(1, len(rare) + 1):
            cumulative = (k / len(rare)) ** (1 / 1.15)
            weights.append(0.7 * (cumulative - previous))
            previous = cumulative
        self.cum_weights = list(_accumulate(weights))
        self.rng = rng

    def body(self) -> str:
        r = self.rng.random()
        if r < 0.04:
            return "[deleted]"
        if r < 0.045:
            return "[removed]"
        # Log-normal length: median 90 characters, mean about 170, capped like the longest real bodies.
        length = min(10_000, max(1, int(self.rng.lognormvariate(math.log(90), 1.13))))
        words = self.rng.choices(self.words, cum_weights=self.cum_weights, k=max(1, round(length / 5.3)))
        text = " ".join(words)
        if self.rng.random() < 0.1:
            text += "\n\n" + " ".join(self.rng.choices(self.words, cum_weights=self.cum_weights, k=8))
        return text


def _accumulate(values: list[float]) -> list[float]:
    total = 0.0
    out = []
    for value in values:
        total += value
        out.append(total)
    return out


def comment_line(i: int, corpus: Corpus, rng: random.Random) -> str:
    body = corpus.body()
    if rng.random() < MATCH_RATE:
        subreddit = rng.choice(MATCHING)
    else:
        subreddit = OTHERS[min(int(rng.paretovariate(1.0)) - 1, len(OTHERS) - 1)]
    deleted = body == "[deleted]" or rng.random() < 0.01
    if deleted:
        author = "[deleted]"
    else:
        author = "AutoModerator" if rng.random() < 0.005 else f"user{rng.randint(1, 300_000)}"
    created = 1420070400 + i * 2_678_399 // 54_000_000
    cid = _base36(80_000_000 + i)
    flair = rng.random() < 0.33
    fields: list[tuple[str, Any]] = [
        ("score_hidden", rng.random() < 0.002),
        ("name", "t1_" + cid),
        ("link_id", "t3_" + _base36(rng.randint(60_000_000, 62_000_000))),
        ("body", body),
        ("downs", 0),
        ("created_utc", str(created)),
        ("score", int(rng.paretovariate(1.5)) - rng.randint(0, 2)),
        ("author", author),
        ("distinguished", "moderator" if rng.random() < 0.01 else None),
        ("id", cid),
        ("archived", False),
        ("parent_id", rng.choice(("t1_", "t1_", "t3_")) + _base36(rng.randint(60_000_000, 80_000_000))),
        ("subreddit", subreddit),
        ("author_flair_css_class", "flair" if flair and rng.random() < 0.5 else None),
        ("author_flair_text", "flair text " + str(rng.randint(1, 99)) if flair else None),
        ("gilded", 1 if rng.random() < 0.001 else 0),
        ("retrieved_on", created + rng.randint(1_500_000, 5_000_000)),
        ("ups", 1),
        ("controversiality", 0),
        ("subreddit_id", "t5_" + _base36(hash(subreddit) % 3_000_000)),
        ("edited", False if rng.random() < 0.97 else created + rng.randint(60, 90_000)),
    ]
    rng.shuffle(fields)
    return json.dumps(dict(fields), separators=(",", ":"))


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


def make_dump(folder: Path, lines: int, seed: int, workers: int) -> tuple[Path, int, str]:
    """The compressed dump (cached by size and seed), its uncompressed size, and the compressor used."""
    target = folder / f"RC_synthetic-v{GENERATOR_VERSION}-{lines}-{seed}.bz2"
    meta = target.with_suffix(".json")
    if target.exists() and meta.exists():
        info = json.loads(meta.read_text())
        return target, info["bytes"], info["compressor"]
    plain = folder / "RC_synthetic.ndjson"
    rng = random.Random(seed)
    corpus = Corpus(rng)
    with plain.open("w", encoding="utf-8") as handle:
        for i in range(lines):
            handle.write(comment_line(i, corpus, rng))
            handle.write("\n")
    size = plain.stat().st_size
    if shutil.which("lbzip2"):
        compressor = "lbzip2 -9"
        command = ["lbzip2", "-9", "-n", str(workers), "-c", str(plain)]
    elif shutil.which("bzip2"):
        compressor, command = "bzip2 -9", ["bzip2", "-9", "-c", str(plain)]
    else:
        compressor, command = "python bz2", []
    if command:
        with target.open("wb") as out:
            subprocess.run(command, stdout=out, check=True)
    else:
        target.write_bytes(bz2.compress(plain.read_bytes(), 9))
    plain.unlink()
    meta.write_text(json.dumps({"bytes": size, "compressor": compressor}))
    return target, size, compressor


# ---------------------------------------------------------------- the three contenders


@dataclass
class Timing:
    seconds: float
    lines: int
    kept: int | None = None
    wall: float | None = None
    peak_rss: int | None = None
    cpu: float | None = None  # CPU seconds, all threads and child processes


def _cpu_seconds() -> float:
    """CPU time of this process and its waited-for children so far."""
    try:
        import resource
    except ImportError:
        return float("nan")
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def naive_baseline(path: Path) -> Timing:
    """What one would write first: decode with the stdlib, parse every line, then apply the rules."""
    from jedi_academy.reddit.privacy import Pseudonymizer
    from jedi_academy.reddit.rules import KeepRules, RuleChecker, dedupe_key
    from jedi_academy.reddit.scanner import to_row
    from jedi_academy.specializations import load_specializations

    sub_to_specs: dict[str, list[str]] = {}
    for spec in load_specializations().values():
        for key in spec.subreddit_keys:
            sub_to_specs.setdefault(key, []).append(spec.id)
    checker = RuleChecker(KeepRules())
    pseudonymizer = Pseudonymizer(os.urandom(32))
    seen: dict[str, set[str]] = {}
    kept: list[tuple[Any, ...]] = []
    lines = 0
    start, cpu = time.perf_counter(), _cpu_seconds()
    with bz2.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            lines += 1
            try:
                comment = json.loads(line)
            except json.JSONDecodeError:
                continue
            subreddit = comment.get("subreddit")
            specs = sub_to_specs.get(subreddit.lower()) if isinstance(subreddit, str) else None
            if not specs or checker.reason_to_drop(comment) is not None:
                continue
            key = dedupe_key(comment["body"])
            fresh = [s for s in specs if key not in seen.setdefault(s, set())]
            if not fresh:
                continue
            for spec_id in fresh:
                seen[spec_id].add(key)
            kept.append(to_row(comment, pseudonymizer))  # pseudonyms, epoch, score, scrubbed body
    return Timing(time.perf_counter() - start, lines, kept=len(kept), cpu=_cpu_seconds() - cpu)


def academy_ingest(path: Path, workers: int, data_dir: Path, decoder: str) -> Timing:
    command = [sys.executable, "-m", "jedi_academy.cli", "--data-dir", str(data_dir), "ingest", str(path)]
    command += ["--json", "--workers", str(workers), "--bz2-decoder", decoder]
    start, cpu = time.perf_counter(), _cpu_seconds()
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        peak = _peak_rss_until_exit(process)
        wall = time.perf_counter() - start
        stdout.seek(0)
        stderr.seek(0)
        if process.returncode != 0:
            problem = stderr.read().decode()[-2000:]
            raise RuntimeError(f"academy ingest failed ({process.returncode}): {problem}")
        summary = json.loads(stdout.read())
    used = _cpu_seconds() - cpu
    return Timing(summary["seconds"], summary["lines_read"], summary["kept"], wall, peak, used)


def _peak_rss_until_exit(process: subprocess.Popen[bytes]) -> int | None:
    """The child's own peak resident set (VmHWM), polled until it exits. getrusage and wait4 would not do:
    a forked child starts with its parent's high-water mark, and the parent has just run the baseline."""
    status = Path(f"/proc/{process.pid}/status")
    peak: int | None = None
    while process.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return peak


def zst_copy(path: Path) -> Path:
    """The dump recompressed as the zst repacks are: zstd with a 2 GiB window (--long=31). Cached."""
    import zstandard

    target = path.with_suffix(".zst")
    if target.exists():
        return target
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, enable_ldm=True)
    tmp = target.with_suffix(".zst.tmp")
    compressor = zstandard.ZstdCompressor(compression_params=params)
    with bz2.open(path, "rb") as source, tmp.open("wb") as out, compressor.stream_writer(out) as writer:
        while block := source.read(8 << 20):
            writer.write(block)
    tmp.replace(target)
    return target


def decompression_floor(path: Path, workers: int, lines: int, decoder: str) -> tuple[Timing, str]:
    """Decompress to nowhere with the fastest parallel decoder available (or the one asked for)."""
    lbzip2 = shutil.which("lbzip2") if decoder in ("auto", "lbzip2") else None
    start, cpu = time.perf_counter(), _cpu_seconds()
    if lbzip2:
        command = [lbzip2, "-d", "-n", str(workers), "-c", str(path)]
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
        tool = f"lbzip2 -d -n {workers} > /dev/null"
    else:
        try:
            import indexed_bzip2
        except ImportError:
            with bz2.open(path, "rb") as handle:
                while handle.read(8 << 20):
                    pass
            tool = "python bz2 (no parallel decoder installed)"
        else:
            with indexed_bzip2.open(str(path), parallelization=workers) as handle:
                while handle.read(8 << 20):
                    pass
            tool = f"indexed_bzip2 parallelization={workers} (in-process, no lbzip2)"
    return Timing(time.perf_counter() - start, lines, cpu=_cpu_seconds() - cpu), tool


# ---------------------------------------------------------------- reporting


def _median(timings: list[Timing], pick: Callable[[Timing], float | None] = lambda t: t.seconds) -> float:
    values = [v for v in (pick(t) for t in timings) if v is not None]
    return statistics.median(values) if values else float("nan")


def _cores(timing: Timing) -> float:
    return (timing.cpu or 0.0) / timing.seconds if timing.seconds else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES, help=f"dump size ({DEFAULT_LINES:,})")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; medians are reported")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="decoder threads")
    parser.add_argument("--seed", type=int, default=2015)
    parser.add_argument(
        "--decoder",
        choices=["auto", "lbzip2", "indexed_bzip2"],
        default="auto",
        help="bz2 decoder for ingest and for the floor (auto: lbzip2 if installed)",
    )
    parser.add_argument(
        "--zst",
        action="store_true",
        help="also ingest the same dump as a long-window .zst once, for its rate and peak memory",
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "academy-bench-ingest")
    args = parser.parse_args(argv)

    args.cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    path, raw_bytes, compressor = make_dump(args.cache, args.lines, args.seed, args.workers)
    size = path.stat().st_size
    print(
        f"dump: {args.lines:,} lines, {raw_bytes / 1e6:,.1f} MB ({raw_bytes / args.lines:.0f} B/line), "
        f"{compressor} -> {size / 1e6:,.1f} MB (ratio {raw_bytes / size:.1f}); "
        f"ready in {time.perf_counter() - started:.0f} s; {os.cpu_count()} cores, {args.workers} workers",
        flush=True,
    )

    naive: list[Timing] = []
    ours: list[Timing] = []
    floor: list[Timing] = []
    tool = ""
    with tempfile.TemporaryDirectory(prefix="academy-bench-") as scratch:
        # CPU spent by any ingest process on start-up and set-up (imports, migrations): measured on a
        # one-line dump, and taken off the CPU figures below.
        tiny = Path(scratch) / "one.ndjson"
        tiny.write_text(comment_line(0, Corpus(random.Random(0)), random.Random(0)) + "\n")
        fixed_cpu = academy_ingest(tiny, args.workers, Path(scratch) / "warm-up", args.decoder).cpu or 0.0
        for round_number in range(1, args.rounds + 1):
            # Ingest runs between the other two, whose order alternates: each round compares the three
            # under similar load (on a shared machine the speed drifts); the report uses per-round ratios.
            data_dir = Path(scratch) / f"data{round_number}"
            if round_number % 2:
                timing, tool = decompression_floor(path, args.workers, args.lines, args.decoder)
                ours.append(academy_ingest(path, args.workers, data_dir, args.decoder))
                naive.append(naive_baseline(path))
            else:
                naive.append(naive_baseline(path))
                ours.append(academy_ingest(path, args.workers, data_dir, args.decoder))
                timing, tool = decompression_floor(path, args.workers, args.lines, args.decoder)
            floor.append(timing)
            print(
                f"round {round_number}: naive {naive[-1].seconds:.2f} s, ingest {ours[-1].seconds:.2f} s "
                f"(wall {ours[-1].wall:.2f} s), floor {floor[-1].seconds:.2f} s "
                f"using {_cores(floor[-1]):.1f} cores",
                flush=True,
            )
        zst = None
        if args.zst:
            zst = academy_ingest(zst_copy(path), args.workers, Path(scratch) / "zst", args.decoder)
    if naive[-1].kept != ours[-1].kept or ours[-1].lines != args.lines:
        print(f"MISMATCH: naive kept {naive[-1].kept}, ingest kept {ours[-1].kept} of {ours[-1].lines} lines")
        return 1

    peak = max(t.peak_rss or 0 for t in ours)
    rows = [
        ("(a) naive stdlib baseline", naive),
        ("(b) academy ingest", ours),
        ("(c) floor: " + tool.split(" ")[0], floor),
    ]
    print(f"\n{'':30}{'best s':>8}{'median s':>10}{'lines/s':>11}{'MB/s':>7}   (lines/s and MB/s: best)")
    for label, timings in rows:
        best, middle = min(t.seconds for t in timings), _median(timings)
        print(f"{label:30}{best:8.2f}{middle:10.2f}{args.lines / best:11,.0f}{raw_bytes / best / 1e6:7.1f}")
    print(f"    ingest wall time with start-up (median): {_median(ours, lambda t: t.wall):.2f} s")
    print(f"    floor measured with: {tool}")
    speedups = [a.seconds / b.seconds for a, b in zip(naive, ours, strict=True)]
    floor_ratios = [b.seconds / c.seconds for b, c in zip(ours, floor, strict=True)]
    print(f"per-round b/a: {', '.join(f'{r:.2f}' for r in speedups)}")
    print(f"per-round c/b: {', '.join(f'{r:.2f}' for r in floor_ratios)}")
    # The targets assume two free cores. When other work takes one, the floor shows it (lbzip2 -n 2 keeps
    # about two cores busy on an idle machine): such rounds are reported but not judged.
    clean = [i for i, t in enumerate(floor) if _cores(t) >= CLEAN_CORES * min(args.workers, 2) / 2]
    judged = clean or list(range(len(floor)))
    speedup = statistics.median(speedups[i] for i in judged)
    floor_ratio = statistics.median(floor_ratios[i] for i in judged)
    which = f"{len(clean)} of {len(floor)} rounds with two free cores" if clean else "all rounds (none clean)"
    print(f"medians over {which}:")
    print(f"  b/a, ingest rate over naive rate: {speedup:5.2f}x (target >= {TARGET_SPEEDUP}x)")
    print(f"  c/b, floor rate over ingest rate: {floor_ratio:5.2f}x (target <= {TARGET_FLOOR_RATIO}x)")
    cpu_ratio = statistics.median(
        ((b.cpu or 0) - fixed_cpu) / (c.cpu or 1) for b, c in zip(ours, floor, strict=True)
    )
    print(f"  CPU seconds of ingest (less {fixed_cpu:.1f} s of start-up) over the floor's: {cpu_ratio:.2f}x")
    met = speedup >= TARGET_SPEEDUP and floor_ratio <= TARGET_FLOOR_RATIO
    met = met and peak < TARGET_PEAK_BYTES
    print(f"peak memory of ingest: {peak / 2**20:.0f} MiB (target < {TARGET_PEAK_BYTES >> 20} MiB)")
    if zst is not None:
        # Not judged: the decoder must keep a window of min(decompressed size, 2 GiB) of output.
        print(
            f"zst (2 GiB window): ingest {zst.seconds:.2f} s, {args.lines / zst.seconds:,.0f} lines/s, "
            f"peak memory {(zst.peak_rss or 0) / 2**20:.0f} MiB for {raw_bytes / 2**20:.0f} MiB of text"
        )
    print(f"kept {ours[-1].kept:,} comments; both pipelines agree")
    print("targets met" if met else "targets NOT met (other processes on the machine inflate single rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
