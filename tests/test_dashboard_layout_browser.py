"""Dashboard pages that must stay inside a phone screen, measured in Chromium."""

import pytest

from accounts import services as accounts_services
from accounts.models import Role
from tests.factories import MembershipFactory, UserFactory
from tests.test_customize_page import signed_in_page
from tests.webhooks_page_support import (  # noqa: F401 (autouse fixture)
    attempt_on,
    destination_in,
    event_in,
    message_to,
    safe_addresses,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
PAGE_WIDTH = "document.documentElement.scrollWidth"
LONG_EMAIL = "accounts-payable.reconciliation.team@northwind-lending-holdings.example"


def switch_to(page, environment):
    page.goto("/")
    with page.expect_navigation():
        page.get_by_role("button", name=environment, exact=True).click()


def test_settings_team_and_invites_stay_inside_a_phone_screen(
    browser, live_server, admin, organisation
):
    teammate = UserFactory(email=LONG_EMAIL, name="Margaret Featherstonehaugh")
    MembershipFactory(user=teammate, organisation=organisation, role=Role.ADMIN)
    accounts_services.invite_create(organisation, Role.DEVELOPER, admin)
    page = signed_in_page(browser, live_server, admin, viewport=PHONE)

    page.goto("/settings/")
    page.get_by_text(LONG_EMAIL).wait_for()
    page_width = page.evaluate(PAGE_WIDTH)
    wrapped = page.locator("#team .table-scroll, #invites .table-scroll").count()
    page.context.close()

    assert page_width <= PHONE["width"]
    assert wrapped == 2


def test_a_sandbox_message_with_long_signatures_stays_inside_a_phone_screen(
    browser, live_server, developer, sandbox
):
    message = message_to(destination_in(sandbox), event_in(sandbox))
    signatures = " ".join(["v1," + "S" * 88] * 2)
    attempt_on(
        message,
        request_headers={
            "webhook-id": f"msg_{message.pk}",
            "webhook-signature": signatures,
            "content-type": "application/json",
        },
        response_excerpt='{"received": true, "note": "' + "x" * 300 + '"}',
    )
    page = signed_in_page(browser, live_server, developer, viewport=PHONE)
    switch_to(page, "Sandbox")

    page.goto(f"/webhooks/messages/{message.pk}/")
    page.locator("details").evaluate_all("all => all.forEach(d => d.open = true)")
    page.get_by_text("webhook-signature").wait_for()
    page_width = page.evaluate(PAGE_WIDTH)
    page.context.close()

    assert page_width <= PHONE["width"]


def test_the_production_only_badge_fits_its_platform_card(
    browser, live_server, admin
):
    page = signed_in_page(browser, live_server, admin, viewport=DESKTOP)
    switch_to(page, "Production")

    page.goto("/platforms/")
    overflow = page.locator(".platform-card").evaluate_all(
        """cards => cards.flatMap(card => {
          const right = card.getBoundingClientRect().right;
          return [...card.querySelectorAll('.badge')]
            .filter(b => b.getBoundingClientRect().right > right)
            .map(b => b.textContent.trim());
        })"""
    )
    badges = page.get_by_text("Not available in production yet").count()
    page.context.close()

    assert badges > 0
    assert overflow == []
