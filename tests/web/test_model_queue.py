"""The web app's model queue: therapists served in turn, positions, cancelling, closing."""

from __future__ import annotations

import threading
import time

import pytest

from jedi_academy.web.model_queue import Cancelled, FairQueue


def test_therapists_are_served_in_turn_whatever_one_of_them_sends() -> None:
    queue = FairQueue()
    holder = queue.admit("busy")
    served: list[str] = []
    with queue.turn(holder):  # the model is taken: everyone below queues up
        tickets = [queue.admit("busy") for _ in range(4)] + [queue.admit("ada"), queue.admit("bob")]
        tickets.append(queue.admit("ada"))
        # round robin from the front of the rotation: busy, ada, bob, busy, ada, busy, busy
        positions = [queue.position(t) for t in tickets]
        assert positions == [1, 4, 6, 7, 2, 3, 5]
        order = sorted(range(len(tickets)), key=lambda i: positions[i])
        assert [tickets[i].therapist for i in order] == ["busy", "ada", "bob", "busy", "ada", "busy", "busy"]

        def take(ticket) -> None:  # type: ignore[no-untyped-def]
            with queue.turn(ticket):
                served.append(ticket.therapist)

        threads = [threading.Thread(target=take, args=(t,)) for t in tickets]
        for thread in threads:
            thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert served == ["busy", "ada", "bob", "busy", "ada", "busy", "busy"]
    # nobody waited behind another therapist's calls for more than one turn
    for index, name in enumerate(served):
        others_before = [n for n in served[:index] if n != name]
        mine_before = served[:index].count(name)
        assert all(others_before.count(other) <= mine_before + 1 for other in set(others_before))


def test_a_waiting_call_reports_its_position_and_can_be_cancelled() -> None:
    queue = FairQueue()
    first = queue.admit("ada")
    seen: list[int] = []
    outcome: list[str] = []
    with queue.turn(first):
        waiting = queue.admit("bob")

        def wait() -> None:
            try:
                with queue.turn(waiting, on_position=seen.append, poll_s=0.05):
                    outcome.append("served")
            except Cancelled:
                outcome.append("cancelled")

        thread = threading.Thread(target=wait)
        thread.start()
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == [1]
        queue.cancel(waiting)
        thread.join(timeout=10)
    assert outcome == ["cancelled"]
    with pytest.raises(KeyError):
        queue.position(waiting)  # it left the queue
    later = queue.admit("bob")
    with queue.turn(later):  # the model is free again
        pass


def test_closing_ends_every_waiting_call_and_refuses_new_ones() -> None:
    queue = FairQueue()
    first = queue.admit("ada")
    outcome: list[str] = []
    with queue.turn(first):
        waiting = queue.admit("bob")

        def wait() -> None:
            try:
                with queue.turn(waiting, poll_s=0.05):
                    outcome.append("served")
            except Cancelled:
                outcome.append("cancelled")

        thread = threading.Thread(target=wait)
        thread.start()
        queue.close()
        thread.join(timeout=5)
        assert outcome == ["cancelled"] and queue.stopping.is_set()
    with pytest.raises(Cancelled):
        queue.admit("carol")
