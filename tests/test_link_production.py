"""Link with a production key: allowed origins, OAuth platforms with credentials."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import api_key_create
from customize.models import LinkSettings
from link.models import PublicToken
from platforms.models import PlatformSetting
from rutterdash.environments import Environment
from tests.test_link_flow import ORIGIN, consented, start_link, started

OTHER_ORIGIN = "http://127.0.0.1:8298"


@pytest.fixture
def production_key(organisation):
    api_key, _secret = api_key_create(organisation, Environment.PRODUCTION)
    return api_key


@pytest.fixture
def allowed(production):
    settings = production.stamp(LinkSettings(allowed_origins=[ORIGIN]))
    settings.save()
    return settings


@pytest.fixture
def quickbooks_app(production):
    setting = production.stamp(
        PlatformSetting(platform="QUICKBOOKS", client_id="ABcd1234client")
    )
    setting.set_client_secret("qb-secret-0123456789")
    setting.save()
    return setting


@pytest.fixture
def business():
    return Client()


def test_an_allowed_origin_opens_link(business, production_key, allowed):
    response = start_link(business, production_key.public_key)

    assert response.status_code == 302
    assert response["Location"].startswith("/link/")


def test_an_unlisted_origin_is_refused(business, production_key, allowed):
    response = start_link(business, production_key.public_key, origin=OTHER_ORIGIN)

    assert response.status_code == 403
    refusal = f"This link was opened from {OTHER_ORIGIN}, a site"
    assert refusal in response.content.decode()
    assert "link_flows" not in business.session


def test_no_origin_is_refused_in_production(business, production_key, allowed):
    response = start_link(business, production_key.public_key, origin=None)

    assert response.status_code == 403


def test_a_redirect_url_to_an_unlisted_origin_is_refused(
    business, production_key, allowed
):
    back = f"{OTHER_ORIGIN}/connected"

    response = start_link(business, production_key.public_key, redirect_url=back)

    assert response.status_code == 403
    assert f"send you back to {OTHER_ORIGIN}" in response.content.decode()


def test_a_redirect_url_on_an_allowed_origin_is_kept(business, production_key, allowed):
    back = f"{ORIGIN}/connected"

    response = start_link(business, production_key.public_key, redirect_url=back)

    assert response.status_code == 302


def test_the_sandbox_key_is_not_bound_by_production_origins(
    business, organisation, allowed
):
    api_key, _secret = api_key_create(organisation, Environment.SANDBOX)

    response = start_link(business, api_key.public_key, origin=OTHER_ORIGIN)

    assert response.status_code == 302


def test_oauth_platforms_without_credentials_are_not_available(
    business, production_key, allowed, quickbooks_app
):
    flow_id = consented(business, production_key.public_key)

    html = business.get(f"/link/{flow_id}/platforms/").content.decode()

    assert 'name="platform" value="QUICKBOOKS"' in html
    assert 'value="XERO"' not in html
    assert "Xero" in html and "Not available" in html


def test_a_platform_without_credentials_cannot_be_chosen(
    business, production_key, allowed
):
    flow_id = consented(business, production_key.public_key)

    response = business.post(f"/link/{flow_id}/platforms/", {"platform": "XERO"})

    assert response.status_code == 400


def test_the_sign_in_step_continues_to_the_platform_through_oauth(
    business, production_key, allowed, quickbooks_app
):
    flow_id = started(business, production_key.public_key, platform="quickbooks")
    business.post(f"/link/{flow_id}/")

    response = business.get(f"/link/{flow_id}/sign-in/")

    html = response.content.decode()
    start_url = reverse("oauth:start", args=[flow_id])
    assert f'action="{start_url}"' in html
    assert 'method="post"' in html
    assert "csrfmiddlewaretoken" in html
    assert "Continue to QuickBooks Online" in html
    assert "user_good" not in html


def test_sandbox_credentials_do_not_sign_in_to_production(
    business, production_key, allowed, quickbooks_app
):
    flow_id = started(business, production_key.public_key, platform="quickbooks")
    business.post(f"/link/{flow_id}/")

    response = business.post(
        f"/link/{flow_id}/sign-in/",
        {"username": "user_good", "password": "pass_good"},
    )

    assert response.status_code == 400
    assert not PublicToken.objects.exists()
