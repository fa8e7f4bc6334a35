"""In Chromium: a test event goes without a dialog; disabling says what it failed."""

import pytest
from django.urls import reverse

from tests.test_customize_page import signed_in_page
from tests.webhooks_page_support import (  # noqa: F401 (autouse fixture)
    destination_in,
    message_to,
    safe_addresses,
)
from webhooks.models import Message, MessageStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server, developer):
    page = signed_in_page(browser, live_server, developer)
    page.dialogs = []

    def answer(dialog):
        page.dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    yield page
    page.context.close()


def test_send_test_event_asks_nothing_and_queues_one_event(page, production):
    destination = destination_in(production)
    page.goto(reverse("webhooks:destination", args=[destination.pk]))

    page.get_by_role("button", name="Send test event").click()
    page.wait_for_url("**/webhooks/messages/*/")

    assert page.dialogs == []
    assert "Test event queued" in page.content()
    (message,) = Message.objects.filter(destination=destination)
    assert message.is_test


def test_disabling_fails_the_backlog_and_the_list_shows_what_is_left(page, production):
    destination = destination_in(production)
    for _ in range(4):
        message_to(destination, status=MessageStatus.PENDING)
    page.goto(reverse("webhooks:index"))
    assert "4 messages not yet delivered" in page.inner_text("main")

    page.goto(reverse("webhooks:destination", args=[destination.pk]))
    page.get_by_label("Reason for disabling (optional)").fill("Moving receivers")
    page.get_by_role("button", name="Disable").click()
    page.wait_for_load_state()

    assert len(page.dialogs) == 1 and "marked failed" in page.dialogs[0]
    text = page.inner_text("main")
    assert "4 messages that were waiting to be sent now show as failed" in text
    assert set(destination.messages.values_list("status", flat=True)) == {"failed"}
    page.goto(reverse("webhooks:index"))
    assert "not yet delivered" not in page.inner_text("main")
