"""One model shared fairly by every therapist of a web app process.

Model calls (a patient's reply, the end of a session) wait in a queue per therapist and are served one
therapist at a time in rotation: after a therapist's call, every other therapist with a call waiting goes
first before that therapist's next one, so nobody waits behind another therapist's calls for more than one
turn, however many that therapist sends. ``slots`` calls may hold the model at once: the rows of one batch
on the transformers backend (``llm.batching``), or the concurrent requests to an OpenAI-compatible server,
whose own batching does the work; the rotation decides who takes a slot that frees. A waiting call knows its
position (the calls served before it) and can be cancelled; closing the queue (the server stopping) wakes
every waiting call and asks the running ones to stop.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from jedi_academy.errors import AcademyError


class Cancelled(AcademyError):
    """The call was cancelled while it waited, or the server is stopping."""


@dataclass(eq=False)
class Ticket:
    therapist: str
    cancelled: threading.Event = field(default_factory=threading.Event)


class FairQueue:
    """Therapists in rotation; ``slots`` calls hold the model at once."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError("a model queue needs at least one slot")
        self.slots = slots
        self._changed = threading.Condition()
        self._waiting: dict[str, deque[Ticket]] = {}
        self._rotation: deque[str] = deque()  # therapists with waiting calls, in the order they are served
        self._running: set[Ticket] = set()
        self._closed = False
        self.served = 0  # calls that got the model, since start
        self.stopping = threading.Event()  # set when closed: a running generation should end

    # -------------------------------------------------------------- what a caller sees

    def position(self, ticket: Ticket) -> int:
        """Calls to be served before ``ticket``, plus one while every slot is taken (0: ``ticket`` is
        running; 1: it takes the next slot that frees)."""
        with self._changed:
            return self._position(ticket)

    def _position(self, ticket: Ticket) -> int:
        if ticket in self._running:
            return 0
        queues = {name: list(calls) for name, calls in self._waiting.items()}
        rotation = list(self._rotation)
        ahead = 1 if len(self._running) >= self.slots else 0
        while rotation:
            name = rotation.pop(0)
            head = queues[name].pop(0)
            if head is ticket:
                return ahead
            ahead += 1
            if queues[name]:
                rotation.append(name)
        raise KeyError("the ticket is not waiting")

    def cancel(self, ticket: Ticket) -> None:
        with self._changed:
            ticket.cancelled.set()
            self._changed.notify_all()

    def close(self) -> None:
        """The server is stopping: waiting calls end with :class:`Cancelled`, the running one is asked to."""
        with self._changed:
            self._closed = True
            self.stopping.set()
            self._changed.notify_all()

    # -------------------------------------------------------------- taking a turn

    def admit(self, therapist: str) -> Ticket:
        with self._changed:
            if self._closed:
                raise Cancelled("the server is stopping")
            ticket = Ticket(therapist)
            queue = self._waiting.setdefault(therapist, deque())
            if not queue:
                self._rotation.append(therapist)
            queue.append(ticket)
            self._changed.notify_all()
            return ticket

    @contextmanager
    def turn(
        self, ticket: Ticket, on_position: Callable[[int], None] | None = None, poll_s: float = 0.5
    ) -> Iterator[None]:
        """Wait for ``ticket``'s turn (reporting each new position), hold the model, then pass it on."""
        shown: int | None = None
        with self._changed:
            while True:
                if ticket.cancelled.is_set() or self._closed:
                    self._withdraw(ticket)
                    raise Cancelled("cancelled while waiting for the patient")
                free = len(self._running) < self.slots
                if free and self._rotation and self._waiting[self._rotation[0]][0] is ticket:
                    self._start(ticket)
                    break
                position = self._position(ticket)
                if on_position is not None and position != shown:
                    shown = position
                    self._changed.release()  # never call out while holding the queue
                    try:
                        on_position(position)
                    finally:
                        self._changed.acquire()
                    continue
                self._changed.wait(poll_s)
        try:
            yield
        finally:
            with self._changed:
                self._running.discard(ticket)
                self._changed.notify_all()

    def _start(self, ticket: Ticket) -> None:
        name = self._rotation.popleft()
        self._waiting[name].popleft()
        if self._waiting[name]:
            self._rotation.append(name)  # this therapist's next call goes behind everyone waiting now
        else:
            del self._waiting[name]
        self._running.add(ticket)
        self.served += 1
        self._changed.notify_all()  # with a slot still free, the next in line may start too

    def _withdraw(self, ticket: Ticket) -> None:
        queue = self._waiting.get(ticket.therapist)
        if queue is None or ticket not in queue:
            return
        queue.remove(ticket)
        if not queue:
            del self._waiting[ticket.therapist]
            self._rotation.remove(ticket.therapist)
        self._changed.notify_all()
