"""The terminal session: the therapist types, the patient's reply streams back.

``/rec TEXT`` says TEXT and marks it as a recommendation, ``/rec`` alone marks the last thing the therapist
said, ``/end`` ends the session. Ctrl-C or Ctrl-D pauses: every finished turn is already stored, and a turn
interrupted mid-reply keeps the therapist's words and is answered on resume.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from jedi_academy.errors import AcademyError
from jedi_academy.sessions.ending import end_session
from jedi_academy.sessions.risk import risk_lexicon
from jedi_academy.sessions.runner import SessionRunner, TurnResult
from jedi_academy.terminal_text import terminal_safe

if TYPE_CHECKING:
    from jedi_academy.sessions.views import SessionView

HELP = (
    "Type what you say to the patient and press Enter.\n"
    "  /rec TEXT  say TEXT and mark it as a recommendation\n"
    "  /rec       mark what you said last as a recommendation\n"
    "  /end       end the session (recommendations are then put to the patient)\n"
    "  /help      this help\n"
    "Ctrl-C or Ctrl-D pauses; `academy session resume ID` continues."
)
PAUSED = 130  # the shell's code for Ctrl-C


class Terminal:
    def __init__(self, out: TextIO = sys.stdout, read: Callable[[str], str] = input) -> None:
        self.out = out
        self.read = read

    # Everything printed goes through terminal_safe: a "\r" or an escape sequence in a patient reply must
    # not overwrite the prompt or restyle the terminal.
    def line(self, text: str = "") -> None:
        self.out.write(terminal_safe(text) + "\n")
        self.out.flush()

    def piece(self, text: str) -> None:
        self.out.write(terminal_safe(text))
        self.out.flush()


def _show_risk(terminal: Terminal, result: TurnResult) -> None:
    lexicon = risk_lexicon()
    for flag in result.risk:
        terminal.line(
            f"  ! risk content from the {flag['speaker']} ({lexicon.label(flag['category'])}): "
            "the session is flagged; follow your risk protocol"
        )


def _answer(terminal: Terminal, runner: SessionRunner, text: str, recommendations: tuple[str, ...]) -> None:
    result = runner.say(
        text,
        recommendations=recommendations,
        on_text=terminal.piece,
        on_stored=lambda: terminal.piece("patient> "),
    )
    terminal.line()
    _show_risk(terminal, result)


def _summary(terminal: Terminal, record: SessionView) -> None:
    terminal.line(f"session {record.session_id} ended: {len(record.turns)} turns")
    from jedi_academy.sessions.advice import advice_line
    from jedi_academy.sessions.preference import decision_line

    for rec in record.recommendations:
        verdict = "no usable answer from the patient" if rec.p_accept is None else decision_line(rec)
        terminal.line(f"  [{rec.source}, {rec.kind}] {rec.text}\n      {verdict}")
        if rec.advice:
            terminal.line(f"      {advice_line(rec.advice)}")
    if record.flags:
        terminal.line(f"  flagged for risk content in turn(s) {sorted({f['turn'] for f in record.flags})}")


def run_interactive(
    runner: SessionRunner, terminal: Terminal | None = None, *, end_options: dict[str, Any] | None = None
) -> int:
    """Run until /end (returns 0) or a pause (returns 130 for Ctrl-C, 0 for Ctrl-D). ``/end`` runs the one
    end-of-session sequence with ``end_options`` (the options of `session end` the command was given)."""
    terminal = terminal or Terminal()
    for _index, therapist, patient in runner.turns():
        terminal.line(f"therapist> {therapist}")
        if patient is not None:
            terminal.line(f"patient> {patient}")
    try:
        if runner.turns() and runner.turns()[-1][2] is None:
            terminal.piece("patient> ")
            result = runner.finish_pending(on_text=terminal.piece)
            terminal.line()
            if result is not None:
                _show_risk(terminal, result)
        while True:
            try:
                line = terminal.read("therapist> ").strip()
            except EOFError:
                terminal.line()
                return _paused(terminal, runner, 0)
            if not line:
                continue
            if line in ("/help", "/?"):
                terminal.line(HELP)
            elif line == "/end":
                terminal.line("ending the session ...")
                # the same sequence as `academy session end` (the stages' hooks: MITI feedback included)
                ended = end_session(runner, options=end_options, progress=terminal.line)
                _summary(terminal, ended.record)
                for text in ended.lines:
                    terminal.line(text)
                return 0
            elif line == "/rec":
                try:
                    marked = runner.mark()
                except AcademyError as exc:
                    terminal.line(f"  {exc.message}")
                    continue
                terminal.line(f"  marked as a recommendation: {marked.text}")
            elif line.startswith("/rec "):
                text = line[len("/rec ") :].strip()
                _answer(terminal, runner, text, (text,))
            elif line.startswith("/"):
                terminal.line(f"  unknown command {line.split()[0]}; /help lists them")
            else:
                _answer(terminal, runner, line, ())
    except KeyboardInterrupt:
        terminal.line()
        return _paused(terminal, runner, PAUSED)


def _paused(terminal: Terminal, runner: SessionRunner, code: int) -> int:
    turns = runner.turns()
    done = sum(1 for _, _, patient in turns if patient is not None)
    terminal.line(
        f"session {runner.session_id} paused with {done} finished turn(s) stored; "
        f"continue with `academy session resume {runner.session_id}`"
    )
    return code
