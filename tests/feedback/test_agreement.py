"""Agreement with human coders: kappa and confusion on the sample file, checked against hand computation."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from jedi_academy.cli import main
from jedi_academy.feedback.codes import ANNOMI_CLASSES, miti_scheme
from jedi_academy.feedback.evaluate import evaluate_file
from jedi_academy.feedback.metrics import agreement

from .annomi_sample import write_sample

CLASSES = list(ANNOMI_CLASSES)  # reflection, question, therapist_input, other


def test_kappa_and_confusion_of_a_textbook_table() -> None:
    # Two raters, 10 items, two classes:   B=yes  B=no
    #                               A=yes     4     1
    #                               A=no      2     3
    # p_o = 7/10; p_e = (5/10)(6/10) + (5/10)(4/10) = 0.30 + 0.20 = 0.50; kappa = (0.7 - 0.5) / 0.5 = 0.4
    gold = ["yes"] * 5 + ["no"] * 5
    predicted = ["yes"] * 4 + ["no"] + ["yes"] * 2 + ["no"] * 3
    result = agreement("a", gold, predicted, ["yes", "no"])
    assert result.confusion == [[4, 1], [2, 3]]
    assert result.accuracy == pytest.approx(0.7)
    assert result.kappa == pytest.approx(0.4)


def test_both_codings_on_one_class_have_no_kappa() -> None:
    # p_e = 1: kappa is undefined, reported as None rather than a number.
    assert agreement("a", ["x", "x"], ["x", "x"], ["x", "y"]).kappa is None


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return write_sample(tmp_path / "annomi-sample.csv")


def test_baselines_on_the_sample_file_match_hand_computation(tiny_llm, sample: Path) -> None:  # type: ignore[no-untyped-def]
    report = evaluate_file(tiny_llm, sample)
    assert (report.n, report.utterances, report.transcripts) == (11, 11, 2)
    assert report.gold_distribution == {"reflection": 4, "question": 3, "therapist_input": 2, "other": 2}
    majority, punctuation = report.baselines

    # Majority class: reflection (4 of 11) for every utterance.
    # p_o = 4/11; p_e = (4/11)(11/11) = 4/11 -> kappa 0. One-vs-rest: the majority-class predictor never
    # discriminates, so every class present has kappa 0 as well.
    assert majority.confusion == [[4, 0, 0, 0], [3, 0, 0, 0], [2, 0, 0, 0], [2, 0, 0, 0]]
    assert majority.accuracy == pytest.approx(4 / 11)
    assert majority.kappa == pytest.approx(0.0)
    assert majority.kappa_per_class == pytest.approx(dict.fromkeys(CLASSES, 0.0))

    # Punctuation: "?" -> question (t1/0, t1/6, t2/2, t2/8), otherwise the most frequent non-question class,
    # reflection. Rows gold, columns predicted (reflection, question, therapist_input, other):
    #   reflection      3 1 0 0   (t2/2 ends in "?")
    #   question        0 3 0 0
    #   therapist_input 2 0 0 0
    #   other           2 0 0 0
    # Row sums 4 3 2 2, column sums 7 4 0 0. p_o = 6/11 = 66/121; p_e = (4*7 + 3*4)/121 = 40/121;
    # kappa = (66 - 40) / (121 - 40) = 26/81.
    assert punctuation.confusion == [[3, 1, 0, 0], [0, 3, 0, 0], [2, 0, 0, 0], [2, 0, 0, 0]]
    assert punctuation.accuracy == pytest.approx(6 / 11)
    assert punctuation.kappa == pytest.approx(26 / 81)
    # One vs rest:
    #   question: TP 3, FP 1, FN 0, TN 7: p_o = 110/121, p_e = (3*4 + 8*7)/121 = 68/121 -> 42/53
    #   reflection: TP 3, FN 1, FP 4, TN 3: p_o = 66/121, p_e = (4*7 + 7*4)/121 = 56/121 -> 10/65
    #   therapist_input / other: never predicted: p_o = p_e = 9/11 -> 0
    assert punctuation.kappa_per_class == pytest.approx(
        {"reflection": 10 / 65, "question": 42 / 53, "therapist_input": 0.0, "other": 0.0}
    )


def test_the_models_row_counts_its_own_predictions(tiny_llm, sample: Path) -> None:  # type: ignore[no-untyped-def]
    report = evaluate_file(tiny_llm, sample, limit=5)
    # --limit keeps the first five therapist utterances in file order: t1/0, t1/2, t1/4, t1/6, t1/8.
    assert [(p["transcript_id"], p["utterance_id"]) for p in report.predictions] == [
        ("demo-1", 0), ("demo-1", 2), ("demo-1", 4), ("demo-1", 6), ("demo-1", 8)
    ]  # fmt: skip
    assert report.uncoded == 0  # constrained decoding: every reply is a valid coding
    scheme = miti_scheme()
    tally: Counter[tuple[str, str]] = Counter()
    for prediction in report.predictions:
        assert 1 <= len(prediction["codes"]) <= 3
        assert prediction["predicted"] == scheme.annomi_class(prediction["codes"][0])
        tally[(prediction["gold"], prediction["predicted"])] += 1
    expected = [[tally[(g, p)] for p in report.coder.classes] for g in report.coder.classes]
    assert report.coder.confusion == expected
    hits = sum(tally[(c, c)] for c in CLASSES)
    assert report.coder.accuracy == pytest.approx(hits / 5)
    assert report.coder.kappa is None or -1.0 <= report.coder.kappa <= 1.0


def test_evaluate_command_prints_json(tiny_dir, sample: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = ["--data-dir", str(sample.parent / "data"), "--model", str(tiny_dir)]
    assert main([*root, "feedback", "evaluate", "--transcripts", str(sample), "--limit", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 3
    assert report["human_kappa_range"] == [0.31, 0.64]
    assert [b["name"] for b in report["baselines"]] == ["majority class", "punctuation (? -> question)"]
    assert sum(map(sum, report["coder"]["confusion"])) == 3


def test_several_annotators_are_each_compared_and_agree_among_themselves(tiny_llm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    header = "transcript_id,utterance_id,interlocutor,utterance_text,main_therapist_behaviour,annotator_id\n"
    labels = {"ann-1": ["question", "question", "reflection", "other"],
              "ann-2": ["question", "reflection", "reflection", "other"]}  # fmt: skip
    texts = ["How are you?", "What happened?", "You're tired.", "Hello."]
    rows = [
        f"a,{2 * i},therapist,{text},{labels[who][i]},{who}" for who in labels for i, text in enumerate(texts)
    ] + ["a,1,client,Fine.,n/a,ann-1"]
    report = evaluate_file(tiny_llm, write_sample(tmp_path / "two.csv", rows, header))
    # Four utterances, each coded once and compared with two annotations.
    assert (report.utterances, report.n, report.annotators) == (4, 8, 2)
    by_utterance: dict[int, set[tuple[str, ...]]] = {}
    for p in report.predictions:
        by_utterance.setdefault(p["utterance_id"], set()).add(tuple(p["codes"]))
    assert all(len(codes) == 1 for codes in by_utterance.values())
    # ann-1 vs ann-2: agree on 3 of 4 (p_o = 12/16). Marginals: ann-1 question 2, reflection 1, other 1;
    # ann-2 question 1, reflection 2, other 1. p_e = (2*1 + 1*2 + 1*1)/16 = 5/16.
    # kappa = (12 - 5)/(16 - 5) = 7/11. Confusion: rows ann-1, columns ann-2 (reflection, question, input,
    # other).
    (pair,) = report.annotator_agreement
    assert pair.name == "ann-1 vs ann-2" and pair.n == 4
    assert pair.kappa == pytest.approx(7 / 11)
    assert pair.confusion == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
