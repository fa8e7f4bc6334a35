"""A connection's link_url: first authorisation, and authorising again."""

import pytest
from django.test import Client

from accounts.services import api_key_create
from connections.models import Connection
from link import services
from link.models import AwaitingLink, PublicToken
from platforms.models import PlatformSetting
from rutterdash import crypto
from rutterdash.environments import Environment
from tests.api_support import api_client, basic_auth
from tests.factories import ConnectionFactory
from tests.test_link_flow import page_text, posted_message, sign_in
from webhooks.models import Event

TOKEN = "access-sandbox-reauth-token-1"


@pytest.fixture
def business():
    return Client()


@pytest.fixture
def needing_reauth(organisation):
    return ConnectionFactory(
        organisation=organisation,
        platform="XERO",
        access_token=TOKEN,
        needs_reauth=True,
        needs_reauth_reason="Xero revoked the grant",
    )


def open_link_url(client, connection, **params):
    return client.get(f"/connection/{connection.id}", params)


def flow_at(response):
    return response["Location"].split("/")[2]


def test_reauthorisation_goes_straight_to_the_platforms_sign_in(
    business, needing_reauth
):
    response = open_link_url(business, needing_reauth)
    page = business.get(response["Location"])

    assert response["Location"].endswith("/sign-in/")
    assert "Sign in to Xero" in page.content.decode()
    assert "Choose another platform" not in page.content.decode()


def test_reauthorisation_keeps_the_id_and_access_token(
    business, needing_reauth, task_queue
):
    flow_id = flow_at(open_link_url(business, needing_reauth))

    response = sign_in(business, flow_id)

    assert response["Location"] == f"/link/{flow_id}/done/"
    connection = Connection.objects.get()
    assert connection.id == needing_reauth.id
    assert connection.access_token() == TOKEN
    assert not connection.needs_reauth
    assert connection.needs_reauth_reason == ""
    assert task_queue.results == []


def test_reauthorisation_issues_a_token_that_exchanges_for_the_same_access(
    business, organisation, needing_reauth
):
    api_key, secret = api_key_create(organisation, Environment.SANDBOX)
    flow_id = flow_at(open_link_url(business, needing_reauth))
    sign_in(business, flow_id)
    back = business.get(f"/link/{flow_id}/done/")
    assert back.status_code == 200

    token = PublicToken.objects.get()
    assert token.connection_id == needing_reauth.id
    api = api_client(basic_auth(api_key.client_id, secret))
    assert api.get("/versioned/connections/access_token", {"access_token": TOKEN})


def test_a_failed_reauthorisation_leaves_the_connection_needing_it(
    business, needing_reauth
):
    flow_id = flow_at(open_link_url(business, needing_reauth))

    response = sign_in(business, flow_id, username="user_bad")

    assert response.status_code == 400
    needing_reauth.refresh_from_db()
    assert needing_reauth.needs_reauth


def test_a_redirect_url_receives_the_public_token(business, needing_reauth):
    back = "http://localhost:3000/done?step=2"
    flow_id = flow_at(open_link_url(business, needing_reauth, redirect_url=back))
    sign_in(business, flow_id)

    response = business.get(f"/link/{flow_id}/done/")

    assert response.status_code == 302
    assert response["Location"].startswith(
        "http://localhost:3000/done?step=2&public_token=public-sandbox-"
    )


def test_a_link_url_with_a_javascript_redirect_is_refused(business, needing_reauth):
    response = open_link_url(business, needing_reauth, redirect_url="javascript:1")

    assert response.status_code == 400


def test_an_unknown_connection_id_gets_a_friendly_not_found(business, db):
    response = business.get("/connection/6f1c2a8e-0000-4000-8000-000000000000")

    assert response.status_code == 404
    assert "This Link address is not valid." in response.content.decode()


def test_a_disabled_connection_cannot_be_authorised(business, organisation):
    disabled = ConnectionFactory(organisation=organisation, disabled=True)

    response = open_link_url(business, disabled)

    assert response.status_code == 409
    assert "disabled" in response.content.decode()


def test_an_awaiting_connection_starts_at_the_landing(business, sandbox):
    connection, _token = services.connection_await_link(sandbox, "")

    response = open_link_url(business, connection)

    assert response["Location"].endswith("/")
    assert not response["Location"].endswith("/sign-in/")


def test_an_awaiting_connection_is_authorised_with_its_id_and_token(
    business, sandbox, task_queue, django_capture_on_commit_callbacks
):
    connection, token = services.connection_await_link(sandbox, "")
    flow_id = flow_at(open_link_url(business, connection))
    business.post(f"/link/{flow_id}/")
    business.post(f"/link/{flow_id}/platforms/", {"platform": "FRESHBOOKS"})

    with django_capture_on_commit_callbacks(execute=True):
        sign_in(business, flow_id, store_name="Greenleaf Design")

    authorised = Connection.objects.get()
    assert authorised.id == connection.id
    assert authorised.access_token() == token
    assert authorised.platform == "FRESHBOOKS"
    assert authorised.store_name == "Greenleaf Design"
    assert not AwaitingLink.objects.exists()
    [queued] = task_queue.results
    assert queued.args == [str(connection.id), 1]


def test_an_awaiting_connection_created_for_a_platform_skips_the_picker(
    business, sandbox
):
    connection, _token = services.connection_await_link(sandbox, "SHOPIFY")
    flow_id = flow_at(open_link_url(business, connection))

    response = business.post(f"/link/{flow_id}/")

    assert response["Location"] == f"/link/{flow_id}/sign-in/"


def test_production_create_returns_a_link_url_that_opens_link(business, organisation):
    api_key, secret = api_key_create(organisation, Environment.PRODUCTION)
    api = api_client(basic_auth(api_key.client_id, secret))

    created = api.post(
        "/versioned/connections/create", {}, content_type="application/json"
    ).json()["connection"]
    landing = business.get(created["link_url"].removeprefix("http://127.0.0.1:8000"))

    assert landing.status_code == 302
    page = business.get(landing["Location"])
    assert "Connect your account to Acme Lending" in page_text(page)
    connection = Connection.objects.get(pk=created["id"])
    assert connection.environment == Environment.PRODUCTION
    assert connection.access_token_hash == crypto.keyed_hash(created["access_token"])
    assert AwaitingLink.objects.filter(connection=connection).exists()


def test_production_create_with_no_body_awaits_link(organisation):
    api_key, secret = api_key_create(organisation, Environment.PRODUCTION)
    api = api_client(basic_auth(api_key.client_id, secret))

    response = api.post(
        "/versioned/connections/create", "", content_type="application/json"
    )

    assert response.status_code == 200
    listed = api.get("/versioned/connections", {"status": "not_ready"}).json()
    assert [c["id"] for c in listed["connections"]] == [
        response.json()["connection"]["id"]
    ]


def test_production_create_with_an_unknown_platform_is_refused(organisation):
    api_key, secret = api_key_create(organisation, Environment.PRODUCTION)
    api = api_client(basic_auth(api_key.client_id, secret))

    response = api.post(
        "/versioned/connections/create",
        {"platform": "MYSPACE"},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_FIELD"
    assert not Connection.objects.exists()


def test_a_finished_link_url_flow_shows_the_token_free_success_page(
    business, needing_reauth
):
    flow_id = flow_at(open_link_url(business, needing_reauth))
    sign_in(business, flow_id)

    response = business.get(f"/link/{flow_id}/done/")

    assert response.status_code == 200
    assert "link-message" not in response.content.decode()
    with pytest.raises(AttributeError):
        posted_message(response)


def test_a_connection_awaiting_link_cannot_be_synced(organisation, task_queue):
    api_key, secret = api_key_create(organisation, Environment.PRODUCTION)
    api = api_client(basic_auth(api_key.client_id, secret))
    created = api.post(
        "/versioned/connections/create", {}, content_type="application/json"
    ).json()["connection"]

    response = api.post(
        f"/versioned/connections/sync?access_token={created['access_token']}"
    )

    assert response.status_code == 409
    assert response.json()["error_code"] == "CONNECTION_NOT_AUTHORISED"
    assert task_queue.results == []


def test_reauthorisation_cannot_switch_to_another_platform(business, needing_reauth):
    flow_id = flow_at(open_link_url(business, needing_reauth))

    response = business.post(f"/link/{flow_id}/platforms/", {"platform": "SHOPIFY"})
    sign_in_page = business.get(f"/link/{flow_id}/sign-in/")

    assert response.status_code == 400
    assert "Sign in to Xero" in sign_in_page.content.decode()


def test_reauthorisation_of_a_platform_switched_off_is_refused(
    business, needing_reauth, sandbox
):
    sandbox.stamp(PlatformSetting(platform="XERO", enabled=False)).save()

    page = business.get(open_link_url(business, needing_reauth)["Location"])

    assert page.status_code == 409
    assert "Xero cannot be connected here now." in page.content.decode()
    assert not PublicToken.objects.exists()


def test_a_connection_created_for_a_platform_keeps_it(business, sandbox):
    connection, _token = services.connection_await_link(sandbox, "SHOPIFY")
    flow_id = flow_at(open_link_url(business, connection))
    business.post(f"/link/{flow_id}/")

    response = business.post(f"/link/{flow_id}/platforms/", {"platform": "XERO"})

    assert response.status_code == 400
    sign_in(business, flow_id)
    assert Connection.objects.get().platform == "SHOPIFY"


def test_reauthorisation_tells_webhooks_the_connection_was_updated(
    business, needing_reauth
):
    flow_id = flow_at(open_link_url(business, needing_reauth))

    sign_in(business, flow_id)

    event = Event.objects.get(type="CONNECTION_UPDATED")
    assert event.payload["connection_id"] == str(needing_reauth.id)
    assert event.connection_id == needing_reauth.id


def test_a_failed_reauthorisation_tells_webhooks_nothing(business, needing_reauth):
    flow_id = flow_at(open_link_url(business, needing_reauth))

    sign_in(business, flow_id, username="user_bad")

    assert not Event.objects.exists()
