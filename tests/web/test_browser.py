"""The pages in a real browser: Debian's Chromium driven by Playwright, against a live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from cyberatlas.accounts import two_factor
from cyberatlas.core.tlp import Marking
from tests.factories import investigation, org, person, say

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery staple"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (make test installs it)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop; Django's ORM calls in the tests stay synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def world(transactional_db):
    bank, vendor = org("Bank"), org("Vendor", sector="cybersecurity-vendor")
    secretariat = org("Secretariat", sector="policy")
    people = {
        "alice": person("alice", bank),
        "carol": person("carol", vendor),
        "cora": person("cora", secretariat, roles=("coordinator",)),
    }
    for user in people.values():
        user.set_password(PASSWORD)
        user.save()
    alice = people["alice"]
    gang = say(alice, "threat-actor:Wire Gang", "uses", "domain-name:wire-pay.example.com")
    investigation("Op Wire", gang.subject, bank, alice)
    say(alice, "domain-name:wire-pay.example.com", "alias", "strict-secret", Marking.AMBER_STRICT)
    hush = say(
        alice,
        "threat-actor:Hush Collective",
        "uses",
        "domain-name:wire-pay.example.com",
        Marking.RED,
        recipients=[people["cora"]],
    )
    return {**people, "domain": gang.object_id, "hush": hush.subject_id}


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_with_the_second_factor(browser, live_server, world):
    device = two_factor.enrol_confirmed(world["cora"])
    page = browser.new_page()
    sign_in(page, live_server.url, "cora")
    expect(page.get_by_role("heading", name="Second factor")).to_be_visible()
    page.get_by_label("Code from your authenticator app").fill(two_factor.current_code(device))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="What the community knows")).to_be_visible()
    expect(page.get_by_role("link", name="Audit log")).to_be_visible()


def test_search_then_entity_page_then_add_and_remark(browser, live_server, world):
    page = browser.new_page()
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/search/")
    page.locator("main").get_by_role("searchbox").fill("wire")
    hit = page.locator("#hits").get_by_role("link", name="Wire Gang")
    expect(hit).to_be_visible()  # typed: htmx fetched the hits
    hit.click()
    expect(page.get_by_role("heading", name="Wire Gang")).to_be_visible()
    page.get_by_role("link", name="wire-pay.example.com").first.click()
    expect(page.get_by_text("strict-secret")).to_be_visible()
    expect(page.locator(".tlp-amber_strict").first).to_be_visible()

    form = page.locator("#add-statement")
    form.get_by_label("Predicate").select_option("status")
    form.get_by_label("Value or object").fill("active")
    form.get_by_label("TLP", exact=True).select_option("green")
    form.get_by_role("button", name="Add statement").click()
    expect(page.get_by_text("Statement added (TLP:GREEN).")).to_be_visible()
    row = page.locator("tr", has_text="active")
    expect(row.locator(".tlp-green")).to_be_visible()

    row.locator("details.actions summary").click()
    row.get_by_role("link", name="Re-mark").click()
    row.get_by_label("New marking").select_option("amber+strict")
    row.get_by_role("button", name="Re-mark").click()
    expect(page.get_by_text("Re-marked.")).to_be_visible()
    expect(page.locator("tr", has_text="active").locator(".tlp-amber_strict")).to_be_visible()


def test_another_organization_sees_neither_strict_data_nor_a_red_only_actor(
    browser, live_server, world
):
    page = browser.new_page()
    sign_in(page, live_server.url, "carol")
    page.goto(f"{live_server.url}/entities/{world['domain']}/")
    expect(page.get_by_role("heading", name="wire-pay.example.com")).to_be_visible()
    expect(page.get_by_text("Wire Gang")).to_be_visible()
    expect(page.get_by_text("strict-secret")).to_have_count(0)
    expect(page.get_by_text("Hush Collective")).to_have_count(0)
    response = page.goto(f"{live_server.url}/entities/{world['hush']}/")
    assert response is not None
    assert response.status == 404
    page.goto(f"{live_server.url}/search/?q=hush")
    expect(page.get_by_text("Nothing you may see matches")).to_be_visible()
