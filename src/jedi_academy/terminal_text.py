"""Model text made safe to print on a terminal.

A model can emit anything a tokenizer can spell, including a carriage return that sends the cursor back and
overwrites the ``patient>`` prompt, a backspace, a bell, or an ANSI escape sequence that recolours, clears or
retitles the terminal. Printed model text keeps line breaks and tabs and loses every other control
character; whole escape sequences (CSI ``ESC [ ... letter``, OSC ``ESC ] ... BEL or ESC \\``) go with their
introducer, so no stray ``[31m`` is left behind. Stored text is never changed: this is for display only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# OSC: ESC ] ... terminated by BEL or ESC \ ; CSI: ESC [ params intermediates final; other 2-byte escapes.
_ESCAPES = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|\x1b[@-_]?"
)
# C0 controls except \t and \n, DEL, and C1 controls.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` without escape sequences and control characters other than newline and tab.

    A ``\\r\\n`` line end becomes ``\\n``; a lone ``\\r`` becomes a space (the words it separated stay
    apart)."""
    text = text.replace("\r\n", "\n").replace("\r", " ")
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def counts_text(counts: Mapping[str, object], empty: str = "none") -> str:
    """``{'session_contaminated': 1, 'no_reply': 2}`` as ``no_reply 2, session_contaminated 1``: printed
    output never shows a raw Python dict."""
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or empty
