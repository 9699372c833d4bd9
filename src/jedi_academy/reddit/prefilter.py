"""Byte-level candidate search: find lines that can belong to a selected subreddit without parsing JSON.

Dumps are compact JSON, so a comment in r/ADHD contains the bytes ``"subreddit":"ADHD"``. The same bytes
inside a body would be escaped (``\\"subreddit\\":\\"``) and cannot match, and the closing quote rules out
prefixes (``depressionregimens``). Whitespace around the colon is allowed for hand-made files. Every
candidate is confirmed by a real JSON parse; a line that cannot match is never parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator


class SubredditPrefilter:
    def __init__(self, subreddits: Iterable[str]) -> None:
        names = sorted({name.lower() for name in subreddits})
        if not names:
            raise ValueError("no subreddits to look for")
        alternatives = b"|".join(re.escape(name.encode("ascii")) for name in names)
        # Only the name is case-insensitive, so the engine can scan for the literal part. The literal starts
        # at 'b': '"' and 's' are so frequent in JSON text that scanning for them is a third slower.
        self.pattern = re.compile(rb'breddit"\s*:\s*"(?i:' + alternatives + rb')"')

    def candidate_lines(self, buf: bytes, end: int) -> Iterator[tuple[int, int]]:
        """(start, stop) of each line in ``buf[:end]`` holding a match, in order, each line once.
        ``end`` must be just after a newline (or the end of the data)."""
        last_stop = -1
        for match in self.pattern.finditer(buf, 0, end):
            if buf[match.start() - 3 : match.start()] != b'"su':
                continue
            start = buf.rfind(b"\n", 0, match.start()) + 1
            if start <= last_stop:
                continue  # a second match on the same line
            stop = buf.find(b"\n", match.end(), end)
            if stop < 0:
                stop = end
            last_stop = stop
            yield start, stop
