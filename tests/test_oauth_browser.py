"""Production sign-in in a real Chromium: Link on localhost, the platform's
consent screen on 127.0.0.1, so the way back is a cross-site redirect that
must still carry Link's session cookie."""

from urllib.parse import urlencode

import pytest

from accounts.services import api_key_create
from connections.models import Connection
from customize.models import LinkSettings
from platforms.models import PlatformGrant
from rutterdash.environments import Environment
from rutterdash.scoping import Scope
from tests.factories import OrganisationFactory
from tests.fake_oauth_provider import FakeProvider
from tests.oauth_support import connect_platform

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ORIGIN = "https://lender.example"
PHONE = {"width": 360, "height": 640}


@pytest.fixture
def provider():
    fake = FakeProvider().start()
    fake.tenant_param = "realmId"
    yield fake
    fake.stop()


@pytest.fixture
def production(settings, live_server, provider):
    settings.SITE_URL = live_server.url
    organisation = OrganisationFactory(name="Acme Lending")
    scope = Scope(organisation, Environment.PRODUCTION)
    scope.stamp(LinkSettings(allowed_origins=[ORIGIN])).save()
    connect_platform(settings, provider, scope, "QUICKBOOKS")
    api_key, _ = api_key_create(organisation, Environment.PRODUCTION)
    return scope, api_key.public_key


def link_address(base_url, public_key, **extra):
    query = urlencode({"origin": ORIGIN, "nonce": "n-1", **extra})
    return f"{base_url}/linkstart/{public_key}?{query}"


def test_a_business_connects_on_a_phone_with_the_keyboard(
    browser, live_server, production, provider
):
    scope, public_key = production
    page = browser.new_page(viewport=PHONE)
    page.goto(link_address(live_server.url, public_key, platform="quickbooks"))

    page.get_by_role("button", name="Continue", exact=True).focus()
    page.keyboard.press("Enter")
    button = page.get_by_role("button", name="Continue to QuickBooks Online")
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/done/")

    assert page.get_by_role("heading", name="Connected").is_visible()
    assert provider.authorize_requests[0]["redirect_uri"] == (
        f"{live_server.url}/link/oauth/callback"
    )
    connection = scope.all(Connection).get()
    grant = PlatformGrant.objects.get(connection=connection)
    assert grant.tenant_id == provider.tenant_id
    assert grant.access_token() == provider.issued_access_tokens[0]


def test_a_business_that_declines_sees_why_and_can_try_again(
    browser, live_server, production, provider
):
    scope, public_key = production
    provider.decision = "deny"
    page = browser.new_page(viewport=PHONE)
    page.goto(link_address(live_server.url, public_key, platform="quickbooks"))
    page.get_by_role("button", name="Continue", exact=True).click()

    page.get_by_role("button", name="Continue to QuickBooks Online").click()
    page.wait_for_url("**/sign-in/")

    alert = page.get_by_role("alert")
    assert "You declined access on QuickBooks Online" in alert.inner_text()
    assert not scope.all(Connection).exists()

    provider.decision = "approve"
    page.get_by_role("button", name="Continue to QuickBooks Online").click()
    page.wait_for_url("**/done/")
    assert scope.all(Connection).count() == 1
