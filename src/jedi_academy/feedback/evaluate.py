"""Agreement of the model's codes with human coders on transcripts in the AnnoMI layout.

The project's codes map onto AnnoMI's four main-behaviour classes through ``annomi`` in ``data/miti.yaml``;
a turn's main behaviour is the first code the model lists. Two baselines run on the same utterances: the
majority class, and a punctuation heuristic ("?" in the utterance -> question, otherwise the most frequent
non-question class of the file's own labels).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.feedback.annomi import AnnotatedUtterance, read_annomi, transcripts
from jedi_academy.feedback.codes import ANNOMI_CLASSES, REFLECTIONS, miti_scheme
from jedi_academy.feedback.coding import PROMPT_VERSION, CodingOptions, code_utterances, coding_messages
from jedi_academy.feedback.metrics import Agreement, agreement
from jedi_academy.feedback.transcript import FeedbackInputError

if TYPE_CHECKING:
    from jedi_academy.llm import LLM

CONTEXT_UTTERANCES = 4
UNCODED = "uncoded"
# Utterance-level agreement between trained human MITI coders (Perez-Rosas et al. 2016).
HUMAN_KAPPA_RANGE = (0.31, 0.64)


@dataclass
class EvaluationReport:
    file: str
    backend: str
    model: str
    prompt_version: str
    scheme_version: str
    limit: int | None
    transcripts: int
    utterances: int  # distinct therapist utterances the model coded
    n: int  # annotations compared (more than ``utterances`` when the file has several annotators)
    annotators: int
    gold_distribution: dict[str, int]
    uncoded: int  # utterances whose coder reply was unusable (they count as disagreements)
    coder: Agreement
    baselines: list[Agreement]
    reflection_subtype: Agreement | None
    annotator_agreement: list[
        Agreement
    ]  # each pair of the file's own annotators, on the utterances both coded
    human_kappa_range: tuple[float, float] = HUMAN_KAPPA_RANGE
    predictions: list[dict[str, Any]] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def main_class(codes: Sequence[str] | None) -> str:
    """The AnnoMI class of a turn's main (first) code; ``uncoded`` when there are no usable codes."""
    if not codes:
        return UNCODED
    return miti_scheme().annomi_class(codes[0])


def majority_class(gold: Sequence[str]) -> str:
    counts = Counter(gold)
    return max(ANNOMI_CLASSES, key=lambda label: (counts[label], -ANNOMI_CLASSES.index(label)))


def punctuation_baseline(texts: Sequence[str], gold: Sequence[str]) -> list[str]:
    """'?' -> question; otherwise the most frequent non-question class among the gold labels."""
    others = Counter(label for label in gold if label != "question")
    fallback = max(
        (label for label in ANNOMI_CLASSES if label != "question"),
        key=lambda label: (others[label], -ANNOMI_CLASSES.index(label)),
    )
    return ["question" if "?" in text else fallback for text in texts]


def _context(rows: list[AnnotatedUtterance], position: int) -> list[tuple[str, str]]:
    before = rows[max(0, position - CONTEXT_UTTERANCES) : position]
    return [("Therapist" if r.interlocutor == "therapist" else "Client", r.text) for r in before]


def evaluate_file(
    llm: LLM,
    path: Path,
    *,
    limit: int | None = None,
    options: CodingOptions | None = None,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationReport:
    """Code the therapist utterances of ``path`` (the first ``limit`` of them) and compare with its labels."""
    options = options or CodingOptions()
    rows = read_annomi(path)
    ordered = transcripts(rows)
    positions = {
        (tid, row.utterance_id): (tid, index)
        for tid, group in ordered.items()
        for index, row in enumerate(group)
    }
    selected = list(
        dict.fromkeys((r.transcript_id, r.utterance_id) for r in rows if r.interlocutor == "therapist")
    )
    if not selected:
        raise FeedbackInputError(
            f"{path}: no therapist utterances to compare", "the file has client rows only"
        )
    if limit is not None:
        selected = selected[:limit]
    requests = []
    for key in selected:
        tid, index = positions[key]
        requests.append(coding_messages(_context(ordered[tid], index), ordered[tid][index].text))
    codes: dict[tuple[str, int], tuple[str, ...] | None] = {}
    for start in range(0, len(requests), batch_size):
        chunk, _ = code_utterances(llm, requests[start : start + batch_size], options)
        for key, found in zip(selected[start : start + batch_size], chunk, strict=True):
            codes[key] = found
        if progress is not None:
            progress(min(start + batch_size, len(requests)), len(requests))
    chosen = set(selected)
    annotations = [
        r for r in rows if r.interlocutor == "therapist" and (r.transcript_id, r.utterance_id) in chosen
    ]
    gold = [r.behaviour or "" for r in annotations]
    predicted = [main_class(codes[(r.transcript_id, r.utterance_id)]) for r in annotations]
    texts = [r.text for r in annotations]
    classes = list(ANNOMI_CLASSES) + ([UNCODED] if UNCODED in predicted else [])
    majority = majority_class(gold) if gold else ANNOMI_CLASSES[0]
    baselines = [
        agreement("majority class", gold, [majority] * len(gold), ANNOMI_CLASSES),
        agreement("punctuation (? -> question)", gold, punctuation_baseline(texts, gold), ANNOMI_CLASSES),
    ]
    annotators = {r.annotator_id for r in annotations}
    return EvaluationReport(
        file=str(path),
        backend=llm.backend_name,
        model=llm.model_name,
        prompt_version=PROMPT_VERSION,
        scheme_version=miti_scheme().version,
        limit=limit,
        transcripts=len({tid for tid, _ in selected}),
        utterances=len(selected),
        n=len(annotations),
        annotators=len(annotators - {None}) or 1,
        gold_distribution={label: gold.count(label) for label in ANNOMI_CLASSES},
        uncoded=sum(1 for key in selected if codes[key] is None),
        coder=agreement(f"{llm.backend_name}/{llm.model_name}", gold, predicted, classes),
        baselines=baselines,
        reflection_subtype=_subtype_agreement(annotations, codes),
        annotator_agreement=_annotator_agreement(annotations),
        predictions=[
            {
                "transcript_id": r.transcript_id,
                "utterance_id": r.utterance_id,
                "annotator_id": r.annotator_id,
                "gold": truth,
                "predicted": guess,
                "codes": list(codes[(r.transcript_id, r.utterance_id)] or []),
            }
            for r, truth, guess in zip(annotations, gold, predicted, strict=True)
        ],
        limits=_limits(len(annotations), limit),
    )


def _subtype_agreement(
    annotations: Sequence[AnnotatedUtterance], codes: dict[tuple[str, int], tuple[str, ...] | None]
) -> Agreement | None:
    """Simple vs complex, on the utterances both sides call a reflection and the file gives a subtype for."""
    gold, predicted = [], []
    for row in annotations:
        found = codes[(row.transcript_id, row.utterance_id)]
        if row.reflection_subtype is None or main_class(found) != "reflection":
            continue
        first = next(code for code in found or () if code in REFLECTIONS)
        gold.append(row.reflection_subtype)
        predicted.append("complex" if first == "complex_reflection" else "simple")
    if not gold:
        return None
    return agreement("reflection subtype", gold, predicted, ["simple", "complex"])


def _annotator_agreement(annotations: Sequence[AnnotatedUtterance]) -> list[Agreement]:
    """Human-human agreement inside the file: one entry per pair of annotators who share utterances."""
    by_annotator: dict[str, dict[tuple[str, int], str]] = {}
    for row in annotations:
        if row.annotator_id is not None and row.behaviour is not None:
            by_annotator.setdefault(row.annotator_id, {})[(row.transcript_id, row.utterance_id)] = (
                row.behaviour
            )
    results = []
    names = sorted(by_annotator)
    for number, first in enumerate(names):
        for second in names[number + 1 :]:
            shared = [key for key in by_annotator[first] if key in by_annotator[second]]
            if shared:
                results.append(
                    agreement(
                        f"{first} vs {second}",
                        [by_annotator[first][key] for key in shared],
                        [by_annotator[second][key] for key in shared],
                        ANNOMI_CLASSES,
                    )
                )
    return results


def _limits(n: int, limit: int | None) -> list[str]:
    notes = [
        f"human coders agree at utterance-level kappa {HUMAN_KAPPA_RANGE[0]}-{HUMAN_KAPPA_RANGE[1]}: a coder "
        "inside that range codes about as consistently as a trained person, not perfectly",
        "the mapping from MITI codes to AnnoMI classes is the project's (docs/feedback.md); AnnoMI labels "
        "one main behaviour per utterance, the model's first code stands for it",
        "both baselines read the file's own label distribution, so they are optimistic",
    ]
    if limit is not None:
        notes.append(f"only the first {limit} therapist utterance(s) of the file were coded")
    if n < 100:
        notes.append(f"n = {n}: kappa from so few utterances has a wide confidence interval")
    return notes
