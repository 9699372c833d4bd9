"""Model text printed on a terminal loses control characters and escape sequences (display only)."""

import io

import pytest

from jedi_academy.sessions.interactive import Terminal
from jedi_academy.terminal_text import terminal_safe


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("I feel\rfine", "I feel fine"),  # a carriage return would overwrite the prompt
        ("line one\r\nline two", "line one\nline two"),
        ("red \x1b[31mtext\x1b[0m here", "red text here"),
        ("title \x1b]0;pwned\x07 set", "title  set"),
        ("bell\x07 back\x08space del\x7f", "bell backspace del"),
        ("c1 \x9b2J clear", "c1  clear"),
        ("keeps\ttabs\nand newlines, ünïcödé 🙂", "keeps\ttabs\nand newlines, ünïcödé 🙂"),
    ],
)
def test_terminal_safe(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown


def test_the_session_terminal_prints_patient_replies_safely() -> None:
    out = io.StringIO()
    terminal = Terminal(out=out, read=lambda prompt: "")
    terminal.piece("patient> ")
    terminal.piece("I am\r")
    terminal.piece("\x1b[2Kfine")
    terminal.line()
    terminal.line("patient> again\rX")
    assert out.getvalue() == "patient> I am fine\npatient> again X\n"
