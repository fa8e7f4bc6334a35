"""Layouts that must hold on a phone and a desktop, measured in Chromium."""

import io

import pytest
from django.utils import timezone
from PIL import Image

from accounts.services import api_key_create
from customize.logos import prepare_logo
from customize.models import LinkSettings
from rutterdash.environments import Environment
from rutterdash.scoping import Scope
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


# For each word of visible text under a root: how many lines its letters sit
# on. A word split mid-way ("Sear" / "ch") sits on two.
SPLIT_WORDS = """root => {
  const split = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.checkVisibility()) continue;
    for (const match of node.textContent.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
      if (tops.size > 1) split.push(match[0]);
    }
  }
  return split;
}"""


def test_the_platform_picker_splits_no_word_on_a_phone(browser, live_server, sandbox):
    api_key, _secret = api_key_create(sandbox.organisation, Environment.SANDBOX)
    page = phone_page(browser, live_server)

    page.goto(f"/linkstart/{api_key.public_key}")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Choose your platform").wait_for()
    split = page.locator("main").evaluate(SPLIT_WORDS)
    search = page.get_by_role("button", name="Search")
    search_height = search.bounding_box()["height"]
    line_height = search.evaluate("b => parseFloat(getComputedStyle(b).lineHeight)")
    dynamics = page.get_by_role("button", name="Microsoft Dynamics 365")
    kind_lines = dynamics.locator(".link-platform-kind").evaluate(
        "k => k.getClientRects().length"
    )
    page_width = page.evaluate(PAGE_WIDTH)
    page.context.close()

    assert split == []
    # One line of text plus the button's padding and border.
    assert search_height < 2 * line_height
    assert kind_lines == 1
    assert page_width <= PHONE["width"]


def wide_logo_png(size=(600, 200)):
    """The logo as Customize stores it after an upload of this size."""
    buffer = io.BytesIO()
    Image.new("RGB", size, "navy").save(buffer, format="PNG")
    return prepare_logo(io.BytesIO(buffer.getvalue()))


def logo_settings(size=(600, 200)):
    return LinkSettings(logo_png=wide_logo_png(size), logo_updated=timezone.now())


LOGO_BOX = """img => {
  const box = img.getBoundingClientRect();
  return {width: box.width, height: box.height,
          shape: img.naturalWidth / img.naturalHeight};
}"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_link_shows_a_wide_logo_at_a_readable_size(
    browser, live_server, sandbox, viewport
):
    sandbox.stamp(logo_settings()).save()
    api_key, _secret = api_key_create(sandbox.organisation, Environment.SANDBOX)
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    page = context.new_page()

    page.goto(f"/linkstart/{api_key.public_key}")
    logo = page.locator("img.link-logo")
    logo.evaluate("img => img.decode()")
    box = logo.evaluate(LOGO_BOX)
    context.close()

    # 600x200 keeps its 3:1 shape at the header's height, not squeezed to 48x16.
    assert 48 <= box["height"] <= 56
    assert box["width"] == pytest.approx(box["shape"] * box["height"], abs=1)


def test_a_very_wide_logo_stays_inside_a_phone_screen(browser, live_server, sandbox):
    sandbox.stamp(logo_settings((2000, 100))).save()
    api_key, _secret = api_key_create(sandbox.organisation, Environment.SANDBOX)
    page = phone_page(browser, live_server)

    page.goto(f"/linkstart/{api_key.public_key}")
    logo = page.locator("img.link-logo")
    logo.evaluate("img => img.decode()")
    box = logo.evaluate(LOGO_BOX)
    page_width = page.evaluate(PAGE_WIDTH)
    page.context.close()

    assert box["width"] <= 220
    assert box["width"] == pytest.approx(box["shape"] * box["height"], abs=1)
    assert page_width <= PHONE["width"]


def test_the_customize_preview_shows_the_logo_as_link_does(
    browser, live_server, developer, organisation
):
    for environment in Environment.values:
        scope = Scope(organisation, environment)
        scope.stamp(logo_settings()).save()
    page = signed_in_page(browser, live_server, developer, viewport=DESKTOP)

    page.goto("/customize/")
    promised = page.get_by_text("at most 52 pixels tall and 220 pixels wide")
    promised_count = promised.count()
    page.goto("/customize/preview")
    logo = page.locator("img.link-logo")
    logo.evaluate("img => img.decode()")
    box = logo.evaluate(LOGO_BOX)
    page.context.close()

    assert promised_count == 1

    assert 48 <= box["height"] <= 56
    assert box["width"] == pytest.approx(box["shape"] * box["height"], abs=1)
