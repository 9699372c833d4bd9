"""Replies being generated right now, so that a browser (or a reloaded one) can follow them as server-sent
events. In-process only: the reply itself is committed by the session runner; this holds the pieces so far."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class LiveReply:
    turn: int
    pieces: list[str] = field(default_factory=list)
    done: bool = False
    error: str | None = None
    final: str | None = None
    position: int | None = None  # calls ahead of this one in the model queue; None once it runs
    withdrawn: str | None = None  # the therapist's words, given back when the wait was cancelled
    changed: threading.Condition = field(default_factory=threading.Condition)

    def waiting(self, position: int | None) -> None:
        with self.changed:
            self.position = position
            self.changed.notify_all()

    def push(self, piece: str) -> None:
        with self.changed:
            self.position = None
            self.pieces.append(piece)
            self.changed.notify_all()

    def finish(self, final: str | None, error: str | None = None) -> None:
        with self.changed:
            self.final, self.error, self.done = final, error, True
            self.changed.notify_all()

    def wait(self, seen: int, timeout: float, position: int | None = None) -> tuple[list[str], bool]:
        """Pieces after the first ``seen`` (waiting up to ``timeout`` for one, or for the queue position to
        differ from ``position``); whether the reply is done."""
        with self.changed:
            if len(self.pieces) <= seen and not self.done and self.position == position:
                self.changed.wait(timeout)
            return self.pieces[seen:], self.done


class LiveReplies:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_session: dict[str, LiveReply] = {}

    def begin(self, session_id: str, turn: int) -> LiveReply:
        with self._lock:
            reply = LiveReply(turn)
            self._by_session[session_id] = reply
            return reply

    def get(self, session_id: str) -> LiveReply | None:
        with self._lock:
            return self._by_session.get(session_id)

    def busy(self, session_id: str) -> bool:
        reply = self.get(session_id)
        return reply is not None and not reply.done
