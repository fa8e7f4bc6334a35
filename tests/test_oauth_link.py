"""Production Link end to end: the SDK's entry, or a connection's link_url,
through the platform's consent screen to an access token the API accepts."""

import re
from urllib.parse import urlencode, urlsplit

import pytest
from django.test import Client

from accounts.services import api_key_create
from connections.models import Connection
from customize.models import LinkSettings
from platforms.models import PlatformGrant
from rutterdash.environments import Environment
from tests.api_support import api_client, basic_auth
from tests.fake_oauth_provider import FakeProvider
from tests.oauth_support import connect_platform, consent

ORIGIN = "https://lender.example"
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def provider(settings, production):
    fake = FakeProvider().start()
    fake.tenant_param = "realmId"
    connect_platform(settings, fake, production, "QUICKBOOKS")
    yield fake
    fake.stop()


@pytest.fixture
def production_api(organisation, production):
    production.stamp(LinkSettings(allowed_origins=[ORIGIN])).save()
    api_key, secret = api_key_create(organisation, Environment.PRODUCTION)
    return api_key, api_client(basic_auth(api_key.client_id, secret))


@pytest.fixture
def business():
    return Client(enforce_csrf_checks=True)


def submit(client, page, action=None):
    """Post the page's form as a browser would, CSRF token included."""
    html = page.content.decode()
    token = CSRF_INPUT.search(html).group(1)
    action = action or page.request["PATH_INFO"]
    return client.post(action, {"csrfmiddlewaretoken": token})


def continue_to_platform(business, sign_in_page):
    html = sign_in_page.content.decode()
    action = re.search(r'<form method="post" action="([^"]+)"', html).group(1)
    assert "/link/oauth/start/" in action
    return submit(business, sign_in_page, action)


def finish_at_provider(business, started):
    callback = business.get(consent(started["Location"]))
    assert callback.status_code == 302
    return business.get(callback["Location"])


def test_the_sdk_entry_connects_through_consent_and_the_api_exchanges_it(
    business, provider, production_api, production
):
    api_key, api = production_api
    query = urlencode({"origin": ORIGIN, "nonce": "n-1", "platform": "quickbooks"})

    landing = business.get(f"/linkstart/{api_key.public_key}?{query}", follow=True)
    sign_in_page = submit(business, landing)
    sign_in_page = business.get(sign_in_page["Location"])
    started = continue_to_platform(business, sign_in_page)
    success = finish_at_provider(business, started)

    assert success.status_code == 200
    public_token = re.search(r"public-production-[\w-]+", success.content.decode())
    exchanged = api.post(
        "/versioned/item/public_token/exchange",
        {"public_token": public_token.group(0)},
        content_type="application/json",
    )
    assert exchanged.status_code == 200, exchanged.content
    connection = production.all(Connection).get()
    assert exchanged.json()["connection_id"] == str(connection.id)
    assert exchanged.json()["access_token"] == connection.access_token()
    assert connection.grant.tenant_id == provider.tenant_id


def test_a_link_url_from_production_create_is_authorised_through_consent(
    business, provider, production_api, production
):
    _, api = production_api
    created = api.post(
        "/versioned/connections/create",
        {"platform": "QUICKBOOKS"},
        content_type="application/json",
    )
    link_url = created.json()["connection"]["link_url"]
    access_token = created.json()["connection"]["access_token"]

    landing = business.get(urlsplit(link_url).path, follow=True)
    sign_in_page = business.get(submit(business, landing)["Location"])
    started = continue_to_platform(business, sign_in_page)
    success = finish_at_provider(business, started)

    assert success.status_code == 200
    connection = production.all(Connection).get()
    assert str(connection.id) == created.json()["connection"]["id"]
    assert connection.access_token() == access_token
    grant = PlatformGrant.objects.get(connection=connection)
    assert grant.access_token() == provider.issued_access_tokens[0]
