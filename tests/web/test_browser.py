"""The therapist's whole flow in a real browser (Debian's Chromium driven by Playwright) against the real app
on the tiny model. Writes screenshots of the main pages to docs/images/."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import PASSWORD, Site, shoot


def test_a_therapist_works_a_case(site: Site, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(site.url + "/")
    expect(page).to_have_url(site.url + "/login")
    shoot(page, "login")
    page.fill("input[name=email]", site.ada.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Your cases")

    # open a new case: the intake sheet, the start checkpoint in the tree, an empty chart
    page.select_option("select[name=specialization]", "depression")
    page.click("text=Open case")
    expect(page.locator("h1")).to_contain_text("Case case-")
    case_url = page.url
    expect(page.locator("dl.intake")).to_contain_text("Presenting problem")
    expect(page.locator("dl.intake")).to_contain_text("Low mood")
    expect(page.locator("#trajectory svg")).to_be_visible()

    # a short session: two turns, streamed; the first one marked as a recommendation
    page.click("#start-session")
    expect(page.locator("h1")).to_contain_text("Session 1")
    page.fill("textarea[name=text]", "Could you try a short walk after breakfast this week? <b>really</b>")
    page.click("#say button[type=submit]")
    first = page.locator("#turn-0 .reply")
    expect(first).not_to_have_class("reply streaming", timeout=60_000)
    expect(first).not_to_be_empty()
    expect(page.locator("#turn-0 .therapist p")).to_have_text(
        "Could you try a short walk after breakfast this week? <b>really</b>"
    )
    page.click("#turn-0 button.mark")
    expect(page.locator("#turn-0 .marked")).to_be_visible()
    page.fill("textarea[name=text]", "What got in the way last time?")
    page.click("#say button[type=submit]")
    expect(page.locator("#turn-1 .reply")).not_to_have_class("reply streaming", timeout=60_000)
    shoot(page, "session")
    # a reload mid-session shows every stored turn
    page.reload()
    expect(page.locator(".turn")).to_have_count(2)

    # end: each recommendation with p_accept, what the patient decided and the mass of its answers; the random
    # tiny model puts almost no probability on "Yes" or "No", so it decided nothing: invalid_preference
    page.once("dialog", lambda dialog: dialog.accept())  # ending asks for confirmation
    page.click("#end button")
    rows = page.locator("#recommendations tbody tr")
    expect(rows.first).to_be_visible(timeout=120_000)
    expect(rows.first).to_contain_text("Could you try a short walk")
    outcome = rows.first.locator("td").nth(4).inner_text()
    assert outcome == "invalid_preference"
    p_accept = float(rows.first.locator("td").nth(3).inner_text())
    assert 0.0 < p_accept < 1.0
    assert float(rows.first.locator("td").nth(5).inner_text()) < 0.5
    shoot(page, "session-ended")

    page.goto(case_url)
    expect(page.locator("table").first).to_contain_text("ended")
    shoot(page, "case")
    page.goto(site.url + "/")
    expect(page.locator("table.cases tbody tr")).to_have_count(2)
    shoot(page, "dashboard")


def test_following_a_link_from_another_site_keeps_the_therapist_signed_in(site: Site, page: Any) -> None:
    """The sign-in cookie is SameSite=Lax: a top-level navigation from another site (an email, a calendar)
    arrives signed in, while a cross-site POST would still need the page's CSRF token."""
    from http.server import BaseHTTPRequestHandler

    from playwright.sync_api import expect

    from tests.http_helpers import LoopbackServer

    target = f"{site.url}/cases/{site.ada.case_id}"

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f'<!doctype html><a id="go" href="{target}">your case</a>'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    page.goto(site.url + "/login")
    page.fill("input[name=email]", site.ada.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Your cases")
    with LoopbackServer(Elsewhere) as other:
        # "localhost" and "127.0.0.1" are different sites to the browser
        page.goto(other.url.replace("127.0.0.1", "localhost") + "/")
        page.click("#go")
        expect(page).to_have_url(target)
        expect(page.locator("h1")).to_contain_text(f"Case {site.ada.case_id}")


def test_an_error_shows_next_to_the_control_and_the_tiny_model_is_named(site: Site, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1200, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{site.url}/cases/{site.bob.case_id}")  # signed out: sign-in returns to the case asked for
    page.fill("input[name=email]", site.bob.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{site.url}/cases/{site.bob.case_id}")
    page.click("#start-session")
    expect(page.locator(".tiny-model")).to_contain_text("tiny test model")
    page.fill("#say textarea", "   ")  # passes the browser's `required`, refused by the server
    page.click("#say button[type=submit]")
    expect(page.locator("#say .form-error")).to_have_text("say something first")
    page.fill("#say textarea", "How was your week?")
    page.click("#say button[type=submit]")
    expect(page.locator("#say .form-error")).to_have_count(0)  # cleared when the form sends again
    expect(page.locator("#transcript .turn")).to_have_count(1)
    expect(page.locator("#transcript .reply.streaming")).to_have_count(0, timeout=120_000)
    page.once("dialog", lambda dialog: dialog.accept())  # ending asks first
    page.click("#end button[type=submit]")
    expect(page.locator("h1")).to_contain_text("ended", timeout=120_000)
    context.close()
    # the console notes the refused request (the browser's and HTMX's own lines, both about the 400); no
    # script failed
    assert errors and all("400" in error for error in errors), errors
