"""Feedback and agreement reports as terminal text (JSON comes from their ``as_dict``)."""

from __future__ import annotations

from jedi_academy.feedback.codes import miti_scheme
from jedi_academy.feedback.coding import SessionFeedback
from jedi_academy.feedback.evaluate import EvaluationReport
from jedi_academy.feedback.metrics import Agreement
from jedi_academy.feedback.summary import SessionSummary

INDICATOR_LABELS = {
    "reflection_to_question": "Reflection-to-question ratio",
    "percent_complex_reflections": "% complex reflections",
    "technical_global": "Technical global",
    "relational_global": "Relational global",
}


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_summary(summary: SessionSummary) -> list[str]:
    scheme = miti_scheme()
    lines = [f"Turns coded: {summary.coded_turns} of {summary.turns}"]
    lines.append("Behaviour counts (turns carrying each code):")
    for code in scheme.codes:
        lines.append(f"  {code.label:<26}{summary.counts.get(code.id, 0):>4}")
    lines.append(f"  MI-adherent {summary.mi_adherent}, MI non-adherent {summary.mi_non_adherent}")
    lines.append("Global ratings (1-5):")
    for scale in scheme.globals:
        value = summary.ratings.get(scale.id) if summary.ratings else None
        threshold = scheme.thresholds[f"{scale.group}_global"]
        shown = "-" if value is None else str(value)
        lines.append(
            f"  {scale.label:<26}{shown:>4}   ({scale.group}: fair {threshold.fair:g}, "
            f"good {threshold.good:g})"
        )
    lines.append("MITI 4.2.1 summary indicators:")
    for indicator in summary.indicators:
        figure = _number(indicator.value, 1 if indicator.name == "percent_complex_reflections" else 2)
        lines.append(
            f"  {INDICATOR_LABELS[indicator.name]:<30}{figure:>6}   fair {indicator.fair:g}, good "
            f"{indicator.good:g}: {indicator.level}"
        )
    if summary.suggestions:
        lines.append("Suggestions:")
        for number, suggestion in enumerate(summary.suggestions, start=1):
            lines.append(f'  {number}. Turn {suggestion.turn_index + 1}: "{suggestion.quote}"')
            lines.append(f"     {suggestion.text}")
    lines.append("What these numbers cannot tell:")
    lines.extend(f"  - {note}" for note in summary.limits)
    return lines


def render_feedback(feedback: SessionFeedback, *, show_turns: bool = True) -> str:
    head = (
        f"Feedback on session {feedback.session_id}" if feedback.session_id else "Feedback on the transcript"
    )
    lines = [f"{head} (coder {feedback.backend}/{feedback.model}, prompt {feedback.prompt_version})"]
    if show_turns:
        labels = {code.id: code.label for code in miti_scheme().codes}
        for turn in feedback.turns:
            codes = ", ".join(labels[c] for c in turn.codes) if turn.codes is not None else "(not coded)"
            lines.append(f"  {turn.index + 1:>3}. {codes}")
    lines.extend(render_summary(feedback.summary))
    return "\n".join(lines)


def _agreement_lines(result: Agreement) -> list[str]:
    per_class = ", ".join(f"{label} {_number(value)}" for label, value in result.kappa_per_class.items())
    return [
        f"  {result.name}: accuracy {_number(result.accuracy)}, kappa {_number(result.kappa)}",
        f"    kappa per class (one vs rest): {per_class}",
    ]


def render_evaluation(report: EvaluationReport) -> str:
    low, high = report.human_kappa_range
    lines = [
        f"Agreement with the human codes in {report.file}",
        f"  coder {report.backend}/{report.model}, prompt {report.prompt_version}; "
        f"n = {report.n} annotation(s) of {report.utterances} therapist utterance(s) "
        f"in {report.transcripts} transcript(s)",
        "  gold labels: " + ", ".join(f"{k} {v}" for k, v in report.gold_distribution.items()),
    ]
    if report.uncoded:
        lines.append(
            f"  {report.uncoded} utterance(s) got no usable codes (counted as 'uncoded', never a match)"
        )
    lines.extend(_agreement_lines(report.coder))
    width = max(len(c) for c in report.coder.classes)
    lines.append("    confusion (rows: human, columns: model):")
    lines.append("    " + " " * width + "".join(f"{c[:8]:>9}" for c in report.coder.classes))
    for label, row in zip(report.coder.classes, report.coder.confusion, strict=True):
        lines.append(f"    {label:<{width}}" + "".join(f"{count:>9}" for count in row))
    lines.append("Baselines on the same utterances:")
    for baseline in report.baselines:
        lines.extend(_agreement_lines(baseline))
    if report.reflection_subtype is not None:
        sub = report.reflection_subtype
        lines.append(
            f"Reflection subtype (simple vs complex) on {sub.n} agreed reflection(s): accuracy "
            f"{_number(sub.accuracy)}, kappa {_number(sub.kappa)}"
        )
    for pair in report.annotator_agreement:
        lines.append(
            f"Annotators in this file, {pair.name}: n = {pair.n}, accuracy {_number(pair.accuracy)}, "
            f"kappa {_number(pair.kappa)}"
        )
    lines.append(f"Human-human agreement to compare with: utterance-level kappa {low}-{high}")
    lines.append("What these numbers cannot tell:")
    lines.extend(f"  - {note}" for note in report.limits)
    return "\n".join(lines)
