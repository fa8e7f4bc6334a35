"""The Webhooks page end to end: a real Chromium, a real receiver on loopback.

An admin adds a destination, sends a test event, sees the attempt, reveals
the signing secret and checks the request with the standardwebhooks
package; after a rotation with overlap, both secrets verify.
"""


import pytest
from standardwebhooks import Webhook

from accounts.models import Role
from accounts.services import api_key_create
from rutterdash.environments import Environment
from tests import webhook_receiver
from tests.factories import PASSWORD, MembershipFactory
from webhooks import delivery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "hooks-admin@lender.test"


@pytest.fixture
def receiver(monkeypatch, settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    monkeypatch.setattr(webhook_receiver, "PORTS", range(8503, 8510))
    with webhook_receiver.Receiver() as receiver:
        yield receiver


@pytest.fixture
def page(browser, live_server):
    membership = MembershipFactory(role=Role.ADMIN, user__email=EMAIL)
    api_key_create(membership.organisation, Environment.SANDBOX)

    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    _sign_in(page)
    yield page
    context.close()


def test_an_admin_adds_a_destination_tests_it_and_verifies_the_signature(
    page, receiver
):
    _add_destination(page, receiver.url)

    _send_test_event(page)
    first_secret = _reveal_secret(page)

    assert len(receiver.requests) == 1
    _verify(receiver.requests[0], first_secret)

    _rotate(page, "1 hour")
    _send_test_event(page)
    second_secret = _reveal_secret(page)

    assert second_secret != first_secret
    assert len(receiver.requests) == 2
    _verify(receiver.requests[1], second_secret)
    _verify(receiver.requests[1], first_secret)


def _sign_in(page):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    page.get_by_role("button", name="Sandbox").click()


def _add_destination(page, url):
    page.goto("/webhooks/")
    page.get_by_role("link", name="Add destination").click()
    page.get_by_label("URL").fill(url)
    page.get_by_label("Description").fill("Local receiver")
    page.get_by_role("button", name="Add destination").click()
    page.get_by_text(f"Added {url}.").wait_for()


def _send_test_event(page):
    destination_url = page.url
    page.get_by_role("button", name="Send test event").click()
    page.wait_for_url("**/webhooks/messages/*/")
    delivery.deliver_all_due()
    page.reload()
    page.get_by_text("HTTP 200").first.wait_for()
    page.goto(destination_url)


def _reveal_secret(page):
    page.get_by_role("button", name="Reveal secret").click()
    secret = page.get_by_label("Secret for").input_value()
    page.go_back()
    return secret


def _rotate(page, overlap):
    page.get_by_label("Keep signing with the old secret for").select_option(
        label=overlap
    )
    page.get_by_role("button", name="Rotate secret").click()
    page.get_by_text("New signing secret in use").wait_for()


def _verify(request, secret):
    """Raises unless one of the request's signatures is this secret's."""
    Webhook(secret).verify(request.body, request.headers)
