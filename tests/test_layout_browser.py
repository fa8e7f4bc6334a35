"""Layouts that must hold on a phone and a desktop, measured in Chromium."""

import pytest

from accounts.services import api_key_create
from customize.models import LinkSettings
from rutterdash.environments import Environment
from tests.factories import ConnectionFactory
from tests.test_customize_page import signed_in_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
LONG_TITLE = "T" * 80
PAGE_WIDTH = "document.documentElement.scrollWidth"


def phone_page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    return context.new_page()


def test_link_keeps_a_long_title_inside_a_phone_screen(browser, live_server, sandbox):
    sandbox.stamp(LinkSettings(title=LONG_TITLE)).save()
    api_key, _secret = api_key_create(sandbox.organisation, Environment.SANDBOX)
    page = phone_page(browser, live_server)

    page.goto(f"/linkstart/{api_key.public_key}")
    page.get_by_text(LONG_TITLE).first.wait_for()
    landing_width = page.evaluate(PAGE_WIDTH)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Choose your platform").wait_for()
    picker_width = page.evaluate(PAGE_WIDTH)
    page.context.close()

    assert landing_width <= PHONE["width"]
    assert picker_width <= PHONE["width"]


def test_connections_table_scrolls_instead_of_splitting_words(
    browser, live_server, developer, sandbox
):
    ConnectionFactory(
        organisation=sandbox.organisation,
        environment=Environment.PRODUCTION,
        store_name="Copper Kettle Catering",
        disabled=True,
    )
    page = signed_in_page(browser, live_server, developer, viewport=PHONE)

    page.goto("/connections/")
    badge = page.locator("table .badge").first
    badge_box = badge.bounding_box()
    font_size = badge.evaluate("b => parseFloat(getComputedStyle(b).fontSize)")
    store = page.get_by_role("link", name="Copper Kettle Catering")
    store_lines = store.evaluate("a => a.getClientRects().length")
    page_width = page.evaluate(PAGE_WIDTH)
    scrolls = page.locator(".table-scroll").evaluate(
        "w => w.scrollWidth > w.clientWidth"
    )
    page.context.close()

    assert page_width <= PHONE["width"]
    assert scrolls
    # One line each: a badge never breaks, a store name only between words.
    assert badge_box["height"] < 2.5 * font_size
    assert store_lines <= 3


def test_environment_switch_stays_inside_the_sidebar(browser, live_server, developer):
    page = signed_in_page(browser, live_server, developer, viewport=DESKTOP)

    page.goto("/")
    sidebar = page.locator("nav.sidebar").bounding_box()
    switch = page.locator(".env-options").bounding_box()
    buttons = [
        page.get_by_role("button", name=name, exact=True).bounding_box()
        for name in ("Production", "Sandbox")
    ]
    page.context.close()

    sidebar_inner_right = sidebar["x"] + sidebar["width"] - 4
    assert switch["x"] + switch["width"] <= sidebar_inner_right
    for button in buttons:
        assert button["x"] + button["width"] <= sidebar_inner_right
