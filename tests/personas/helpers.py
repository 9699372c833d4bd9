"""Builders shared by the persona and conversation tests: author bundles, small card limits for the tiny
model, a real ingest of a tiny dump, and a scripted backend for retry logic only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jedi_academy.llm import GenerationParams
from jedi_academy.personas.generate import PersonaOptions
from jedi_academy.personas.schema import CardLimits
from jedi_academy.personas.selection import SelectionRules
from jedi_academy.reddit import AuthorBundle, BundleComment

# Short cards keep the random tiny model quick under constrained decoding.
TINY_LIMITS = CardLimits(text_max_chars=12, name_max_chars=8, max_items=1, max_evidence=1)
TINY_TOKENS = 1500  # room for a whole v2 card at TINY_LIMITS

STORIES = [
    "Mornings are the hardest part, I lie there for an hour before I can face making coffee.",
    "My sister keeps asking me over for dinner but I cancel at the last minute every single time.",
    "Work is a blur lately, I stare at the same spreadsheet for ages and my manager has noticed it.",
    "I used to paint every weekend and now the brushes sit in a box under the bed collecting dust.",
    "Sleep is broken, I wake at four and my head starts listing every mistake I made this year.",
]


def tiny_options(**changes: object) -> PersonaOptions:
    base: dict[str, object] = {
        "n": 2,
        "limits": TINY_LIMITS,
        "max_tokens": TINY_TOKENS,
        "temperature": 1.0,
        "selection": SelectionRules(min_comments=3, min_words=20),
        "grounding": False,  # the random tiny model's verdicts are tested on their own
        "first_person": "heuristic",
    }
    base.update(changes)
    return PersonaOptions(**base)  # type: ignore[arg-type]


def make_bundle(
    author: str,
    texts: Sequence[str] | None = None,
    subreddit: str = "depression",
    specialization: str = "depression",
) -> AuthorBundle:
    texts = list(texts) if texts is not None else [f"{story} ({author})" for story in STORIES[:4]]
    start = datetime(2015, 1, 1, tzinfo=UTC)
    comments = tuple(
        BundleComment(
            id=f"{author}x{n}", created=start + timedelta(hours=n), body=text, score=1, subreddit=subreddit
        )
        for n, text in enumerate(texts)
    )
    return AuthorBundle(author=author, specialization=specialization, comments=comments)


def ingest_tiny_dump(
    main, data_dir: Path, folder: Path, specialization: str, subreddit: str, authors: int
) -> None:  # type: ignore[no-untyped-def]
    """Run the real ``academy ingest`` on a small NDJSON dump: ``authors`` authors with five comments each."""
    from tests.reddit.dumps import comment, write_dump

    lines = []
    for a in range(authors):
        for c, story in enumerate(STORIES):
            n = a * len(STORIES) + c
            lines.append(comment(n, author=f"writer{a}", subreddit=subreddit, body=f"{story} Day {a}-{c}."))
    path = write_dump(folder, lines)
    assert main(["--data-dir", str(data_dir), "ingest", str(path), "-s", specialization, "--json"]) == 0


@dataclass
class ScriptedLLM:
    """Returns scripted replies: for each conversation, the next reply of the first script whose key occurs in
    the conversation's text. Only for testing how invalid replies are retried and counted."""

    scripts: dict[str, list[str]]
    backend_name: str = "scripted"
    model_name: str = "script"
    calls: list[GenerationParams] = field(default_factory=list)

    def generate(self, conversations, params, adapter=None):  # type: ignore[no-untyped-def]
        self.calls.append(params)
        replies = []
        for conversation in conversations:
            text = "\n".join(m["content"] for m in conversation)
            key = next(k for k in self.scripts if k in text)
            replies.append(self.scripts[key].pop(0) if len(self.scripts[key]) > 1 else self.scripts[key][0])
        return replies

    def loglikelihood(self, requests):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def describe(self):  # type: ignore[no-untyped-def]
        return {"backend": self.backend_name, "model": self.model_name}
