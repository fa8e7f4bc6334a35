"""A webhook message page with long unbroken lines never scrolls sideways."""

import pytest
from django.urls import reverse

from tests.test_customize_page import signed_in_page
from tests.webhooks_page_support import (  # noqa: F401 (autouse fixture)
    attempt_on,
    destination_in,
    message_to,
    safe_addresses,
)
from webhooks.models import MessageStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_LINE = "z" * 20_000
OPEN_EVERY_DETAILS = "document.querySelectorAll('details').forEach(d => d.open = true)"
PAGE_WIDTH = "document.documentElement.scrollWidth"
LINES = "element => element.querySelector('code').getClientRects().length"


@pytest.fixture
def long_lines_message(production):
    destination = destination_in(production)
    message = message_to(destination, status=MessageStatus.RETRYING)
    error = f"Request failed: {LONG_LINE[:200]}."
    message.last_error = error
    message.save(update_fields=["last_error"])
    attempt_on(
        message,
        status_code=500,
        request_headers={"webhook-id": message.event_id, "x-trace": LONG_LINE},
        response_headers={"x-padding": LONG_LINE},
        response_excerpt=LONG_LINE,
        error=error,
    )
    return message


@pytest.mark.parametrize("width", [360, 800, 1280])
def test_long_lines_stay_inside_their_own_box(
    browser, live_server, developer, long_lines_message, width
):
    viewport = {"width": width, "height": 800}
    page = signed_in_page(browser, live_server, developer, viewport=viewport)
    page.goto(reverse("webhooks:message", args=[long_lines_message.pk]))
    page.evaluate(OPEN_EVERY_DETAILS)

    excerpt = page.locator("pre", has_text=LONG_LINE[:100]).last
    scrolls_inside = excerpt.evaluate("box => box.scrollWidth > box.clientWidth")
    header_name = page.locator("td.wh-header-name").first
    header_name_lines = header_name.evaluate(LINES)
    page_width = page.evaluate(PAGE_WIDTH)
    window_width = page.evaluate("window.innerWidth")
    page.context.close()

    assert page_width <= window_width == width
    assert scrolls_inside, "the excerpt scrolls inside its own box"
    assert header_name_lines == 1, "a header's name is not split beside a long value"
