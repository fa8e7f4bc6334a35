"""The Webhooks tables on a 360 px phone: they scroll, nothing splits mid-word."""

import os
import uuid

import pytest
from django.urls import reverse

from tests.test_customize_page import signed_in_page
from tests.webhooks_page_support import (  # noqa: F401 (autouse fixture)
    destination_in,
    event_in,
    message_to,
    safe_addresses,
)
from webhooks.models import MessageStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


PHONE = {"width": 360, "height": 740}
PAGE_WIDTH = "document.documentElement.scrollWidth"
LINES = "element => element.getClientRects().length"
# Set to a folder to keep a screenshot of each page, for a look by eye.
SHOTS = os.environ.get("WEBHOOKS_PHONE_SHOTS")


@pytest.fixture
def delivery_log(production):
    destination = destination_in(
        production,
        url="https://hooks.example.com/rutter/webhooks/accounting-events",
        description="Ledger sync worker",
    )
    event = event_in(production, "HISTORICAL_UPDATE", connection_id=uuid.uuid4())
    message_to(destination, event, status=MessageStatus.RETRYING)
    return destination


@pytest.mark.parametrize("name", ["index", "messages", "destination"])
def test_webhooks_tables_scroll_instead_of_splitting_words(
    browser, live_server, developer, delivery_log, name
):
    args = [delivery_log.pk] if name == "destination" else []
    page = signed_in_page(browser, live_server, developer, viewport=PHONE)
    page.goto(reverse(f"webhooks:{name}", args=args))

    scroller = page.locator(".table-scroll").first
    overflows = scroller.evaluate("s => s.scrollWidth > s.clientWidth")
    pieces = page.locator(".wh-table .badge, .wh-table td code, .wh-table .wh-when")
    lines = [pieces.nth(i).evaluate(LINES) for i in range(pieces.count())]
    page_width = page.evaluate(PAGE_WIDTH)
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)
    page.context.close()

    assert page_width <= PHONE["width"]
    assert overflows, "the table scrolls inside the page"
    assert lines and all(count == 1 for count in lines)
