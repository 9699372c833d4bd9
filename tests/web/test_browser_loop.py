"""The improvement loop from the browser: end a session, watch its job run in the loop's worker (live progress
that survives a reload), see the new checkpoint's score on the chart, then return to the first checkpoint and
branch. Debian's Chromium driven by Playwright, the tiny model, the loop's real queue and worker."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerThread
from tests.web.conftest import PASSWORD, shoot

EMAIL = "ada@example.org"


@pytest.fixture(scope="module")
def loop_site(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path, tiny_llm: Any) -> Iterator[Any]:
    """The loop tests' world (a briefly trained LoRA patient on a few conversations) with Ada invited, served
    with the loop's job queue; a worker thread is started by the test when a job is waiting."""
    from jedi_academy.sessions import ModelPool, ModelSpec, show_case
    from jedi_academy.web import accounts
    from jedi_academy.web.app import WebConfig, create_app
    from jedi_academy.web.jobs import loop_jobs
    from tests.loop.conftest import LOOP, build_world

    world = build_world(tmp_path_factory.mktemp("web-loop"), tiny_dir, tiny_llm)
    therapist_id = show_case(world.database, world.case_id).therapist_id
    accounts.accept_invite(world.database, accounts.invite(world.database, therapist_id, EMAIL), PASSWORD)
    pool = ModelPool(world.settings)
    pool.share(ModelSpec("transformers", world.settings.model, None), tiny_llm)
    jobs = loop_jobs(world.settings, world.database, options=LOOP)
    assert jobs is not None
    config = WebConfig(secret=b"loop-test-secret-0123456789", max_tokens=8, session_seed=7)
    app = create_app(world.settings, world.database, pool, config, jobs=jobs)
    with ServerThread(app) as server:
        yield world, server.url


def run_worker_until_idle(settings: Any) -> threading.Thread:
    from jedi_academy.loop.jobs import run_worker

    thread = threading.Thread(
        target=run_worker, args=(settings,), kwargs={"burst": True, "echo": lambda _t: None}, daemon=True
    )
    thread.start()
    return thread


def test_the_loop_job_moves_the_case_and_a_branch_starts_from_the_first_checkpoint(
    loop_site: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    world, url = loop_site
    page.goto(url + "/login")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{url}/cases/{world.case_id}")
    first_checkpoint = world.start_checkpoint
    expect(page.locator("#trajectory svg circle.point")).to_have_count(0)

    page.click("#start-session")
    page.fill("textarea[name=text]", "Could you take a short walk after breakfast?")
    page.click("#say button[type=submit]")
    expect(page.locator("#turn-0 .reply")).not_to_have_class("reply streaming", timeout=60_000)
    page.click("#turn-0 button.mark")
    expect(page.locator("#turn-0 .marked")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())  # ending asks for confirmation
    page.click("#end button")
    expect(page.locator("#recommendations tbody tr").first).to_be_visible(timeout=120_000)

    # the session page links the queued job; its page follows the job live and survives a reload
    page.click("#job-link")
    expect(page.locator("#job-status")).to_have_text("queued")
    worker = run_worker_until_idle(world.settings)
    expect(page.locator("#job-status")).to_have_text("running", timeout=60_000)
    page.reload()
    expect(page.locator("#job-status")).not_to_have_text("queued")
    shoot(page, "job")
    # done: the page keeps the job's last message and links on to the new checkpoint on the case
    job_url = page.url
    expect(page.locator("#job-status")).to_have_text("done", timeout=300_000)
    worker.join(timeout=60)
    expect(page.locator("#job-final")).to_be_visible()
    expect(page.locator("#job-outcome")).to_contain_text("The re-fine-tuned patient is checkpoint")
    assert page.url == job_url and page.locator("#job-message").inner_text().strip()  # still readable
    link = page.locator("#job-result-link")
    new_checkpoint = link.get_attribute("href").rsplit("#checkpoint-", 1)[1]  # type: ignore[union-attr]
    assert new_checkpoint != first_checkpoint
    expect(page.locator("#job-session-link")).to_have_attribute("href", re.compile(r"^/sessions/\S+$"))
    shoot(page, "job-done")
    page.reload()  # a later visit shows the same final message and link
    expect(page.locator("#job-outcome")).to_contain_text(new_checkpoint)
    page.click("#job-result-link")
    page.wait_for_url(f"{url}/cases/{world.case_id}#checkpoint-{new_checkpoint}")
    expect(page.locator(f"#checkpoint-{new_checkpoint}")).to_be_visible()
    # the case's chart now has the start checkpoint and the new one scored
    points = page.locator("#trajectory svg .point")  # scored circles or invalid-run crosses (tiny model)
    expect(points).to_have_count(2)
    expect(page.locator(f'#trajectory .point[data-checkpoint="{first_checkpoint}"]')).to_have_count(1)
    shoot(page, "case-after-loop")

    # return to the first checkpoint and branch: the next session runs there, on a new branch
    page.click(f'button[data-branch-from="{first_checkpoint}"]')
    expect(page.locator("p.muted").first).to_contain_text("branch branch-2")
    expect(page.locator("p.muted").first).to_contain_text(first_checkpoint)
    page.click("#start-session")
    expect(page.locator("h1")).to_contain_text("branch branch-2")
    page.goto(f"{url}/cases/{world.case_id}")
    expect(page.locator("table.branches tbody tr")).to_have_count(2)
    shoot(page, "case-branched")
