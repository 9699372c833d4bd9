"""The web app's model queue: therapists served in turn, positions, cancelling, closing."""

from __future__ import annotations

import threading
import time

import pytest

from jedi_academy.web.model_queue import Cancelled, FairQueue
from tests.http_helpers import JSONHandler, LoopbackServer


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


def test_with_several_slots_calls_run_together_and_the_rotation_fills_freed_slots() -> None:
    queue = FairQueue(slots=2)
    ada, bob = queue.admit("ada"), queue.admit("bob")
    with queue.turn(ada), queue.turn(bob):  # two slots: both run at once
        assert queue.position(ada) == queue.position(bob) == 0
        later = [queue.admit("ada"), queue.admit("carol"), queue.admit("ada")]
        assert [queue.position(t) for t in later] == [1, 2, 3]  # all slots taken: 1 is next
    with queue.turn(later[0]), queue.turn(later[1]):
        assert queue.position(later[2]) == 1


class HoldingHandler(JSONHandler):
    """An OpenAI-style chat server that counts the requests in flight and holds each one until the client's
    limit is reached (or every request has come), so that the most seen at once is the client's limit."""

    limit = 3
    total = 7
    lock = threading.Lock()
    in_flight = 0
    most = 0
    started = 0

    def do_POST(self) -> None:
        self.json_body()
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.started += 1
            cls.most = max(cls.most, cls.in_flight)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with cls.lock:
                if cls.in_flight >= cls.limit or cls.started >= cls.total:
                    break
            time.sleep(0.01)
        with cls.lock:
            cls.in_flight -= 1
        self.reply(200, {"choices": [{"message": {"role": "assistant", "content": "fine"}}]})


def test_an_openai_compatible_backend_gets_calls_concurrently_up_to_the_configured_limit() -> None:
    from jedi_academy.llm import GenerationParams
    from jedi_academy.llm.openai_backend import OpenAICompatibleLLM
    from jedi_academy.web.app import WebConfig, model_slots

    config = WebConfig(secret=b"x" * 32, concurrency=HoldingHandler.limit)
    queue = FairQueue(model_slots("openai", config))
    replies: list[str] = []
    with LoopbackServer(HoldingHandler) as server:
        llm = OpenAICompatibleLLM(server.url, "patient")

        def call(number: int) -> None:
            ticket = queue.admit(f"therapist-{number % 4}")
            with queue.turn(ticket):
                conversation = [{"role": "user", "content": f"hello {number}"}]
                replies.append(llm.generate([conversation], GenerationParams(max_tokens=4))[0])

        threads = [threading.Thread(target=call, args=(n,)) for n in range(HoldingHandler.total)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert replies == ["fine"] * HoldingHandler.total
    assert HoldingHandler.most == HoldingHandler.limit  # concurrent, and never more than the limit
    assert model_slots("transformers", WebConfig(secret=b"x" * 32, batch_size=5)) == 5
