"""Link's production sign-in through OAuth, against a fake provider on loopback."""

import logging

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from connections.models import Connection
from platforms import oauth, oauth_views
from platforms.models import PlatformGrant
from platforms.services import credentials_remove, platform_enable
from rutterdash import crypto
from tests.factories import ConnectionFactory
from tests.fake_oauth_provider import FakeProvider
from tests.oauth_support import (
    connect_platform,
    consent,
    open_flow,
    query_of,
    reload_flow,
    sign_in,
    start,
)


@pytest.fixture
def provider():
    fake = FakeProvider().start()
    yield fake
    fake.stop()


@pytest.fixture
def quickbooks(settings, provider, production):
    provider.tenant_param = "realmId"
    connect_platform(settings, provider, production, "QUICKBOOKS")
    return provider


@pytest.fixture
def xero(settings, provider, production):
    connect_platform(settings, provider, production, "XERO")
    return provider


@pytest.fixture
def business():
    return Client()


def success_url(flow):
    return reverse("link:success", args=[flow.flow_id])


def sign_in_url(flow):
    return reverse("link:sign_in", args=[flow.flow_id])


def test_start_sends_the_business_to_the_consent_screen(
    business, production, quickbooks
):
    flow = open_flow(business, production, "QUICKBOOKS")

    response = start(business, flow)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{quickbooks.base_url}/authorize?")
    sent = query_of(response["Location"])
    assert sent["client_id"] == quickbooks.client_id
    assert sent["redirect_uri"] == "http://127.0.0.1:8000/link/oauth/callback"
    assert sent["response_type"] == "code"
    assert sent["scope"] == "com.intuit.quickbooks.accounting"
    assert len(sent["state"]) >= 40
    assert "code_challenge" not in sent  # QuickBooks takes no PKCE.


def test_start_answers_get_with_405(business, production, quickbooks):
    flow = open_flow(business, production, "QUICKBOOKS")

    response = business.get(reverse("oauth:start", args=[flow.flow_id]))

    assert response.status_code == 405


def test_start_for_an_unknown_flow_is_404(business, quickbooks):
    response = business.post(reverse("oauth:start", args=["no-such-flow"]))

    assert response.status_code == 404
    assert quickbooks.authorize_requests == []


def test_a_successful_sign_in_creates_the_connection_and_stores_the_grant(
    business, production, quickbooks, task_queue, django_capture_on_commit_callbacks
):
    flow = open_flow(business, production, "QUICKBOOKS")

    with django_capture_on_commit_callbacks(execute=True):
        response = sign_in(business, flow)

    assert response.status_code == 302
    assert response["Location"] == success_url(flow)
    connection = production.all(Connection).get()
    assert reload_flow(business, flow).connection_id == str(connection.id)
    assert connection.platform == "QUICKBOOKS"
    assert connection.store_name == "QuickBooks Online"
    assert len(task_queue.results) == 1  # Its first sync is queued.

    grant = PlatformGrant.objects.get(connection=connection)
    assert grant.tenant_id == quickbooks.tenant_id  # realmId from the callback
    assert grant.access_token() == quickbooks.issued_access_tokens[0]
    assert grant.refresh_token() in quickbooks.refresh_tokens
    assert grant.access_token_expires_at is not None
    assert grant.refresh_token_expires_at > grant.access_token_expires_at
    assert grant.scopes == "com.intuit.quickbooks.accounting"


def test_the_grant_is_encrypted_at_rest(business, production, quickbooks, task_queue):
    flow = open_flow(business, production, "QUICKBOOKS")

    sign_in(business, flow)

    grant = PlatformGrant.objects.get()
    access_token = quickbooks.issued_access_tokens[0]
    refresh_token = grant.refresh_token()
    stored = PlatformGrant.objects.values().get()
    for column in stored.values():
        assert access_token not in str(column)
        assert refresh_token not in str(column)


def test_the_token_request_authenticates_with_http_basic(
    business, production, quickbooks, task_queue
):
    flow = open_flow(business, production, "QUICKBOOKS")

    sign_in(business, flow)

    request = quickbooks.token_requests[0]
    assert request["headers"]["authorization"].startswith("Basic ")
    assert "client_secret" not in request["form"]
    assert request["form"]["grant_type"] == "authorization_code"
    assert request["headers"]["user-agent"] == oauth.USER_AGENT


def test_pkce_is_sent_and_verified_where_the_platform_supports_it(
    business, production, xero, task_queue
):
    flow = open_flow(business, production, "XERO")

    started = start(business, flow)
    sent = query_of(started["Location"])
    response = business.get(consent(started["Location"]))

    assert sent["code_challenge_method"] == "S256"
    assert len(sent["code_challenge"]) == 43
    verifier = xero.token_requests[0]["form"]["code_verifier"]
    assert oauth.code_challenge(verifier) == sent["code_challenge"]
    assert response["Location"] == success_url(flow)  # The fake checked it.
    assert production.all(Connection).get().platform == "XERO"


def test_a_wrong_pkce_verifier_is_refused_by_the_provider(
    business, production, xero, monkeypatch
):
    flow = open_flow(business, production, "XERO")
    started = start(business, flow)
    session = business.session
    for pending in session[oauth.PENDING_KEY].values():
        pending["verifier"] = "a-verifier-the-provider-never-saw-" + "x" * 20
    session.save()

    response = business.get(consent(started["Location"]))

    assert response["Location"] == sign_in_url(flow)
    assert "expired or was already used" in reload_flow(business, flow).error
    assert not Connection.objects.exists()


def test_declined_consent_returns_to_sign_in_with_a_message(
    business, production, quickbooks
):
    flow = open_flow(business, production, "QUICKBOOKS")

    response = sign_in(business, flow, decision="deny")

    assert response.status_code == 302
    assert response["Location"] == sign_in_url(flow)
    assert reload_flow(business, flow).error.startswith(
        "You declined access on QuickBooks Online"
    )
    assert quickbooks.token_requests == []
    assert not Connection.objects.exists()


def test_the_sign_in_page_shows_why_the_last_attempt_failed(
    business, production, quickbooks
):
    flow = open_flow(business, production, "QUICKBOOKS")
    sign_in(business, flow, decision="deny")

    page = business.get(sign_in_url(flow))

    assert page.status_code == 200
    assert "You declined access on QuickBooks Online" in page.content.decode()
    assert reverse("oauth:start", args=[flow.flow_id]) in page.content.decode()


@pytest.mark.parametrize("state", ["", "made-up-state"])
def test_a_missing_or_unknown_state_is_refused(business, production, quickbooks, state):
    flow = open_flow(business, production, "QUICKBOOKS")
    started = start(business, flow)
    back = consent(started["Location"])
    code = query_of(back)["code"]

    response = business.get(reverse("oauth:callback"), {"code": code, "state": state})

    assert response.status_code == 400
    assert oauth_views.UNKNOWN_STATE in response.content.decode()
    assert quickbooks.token_requests == []
    assert not Connection.objects.exists()


def test_a_state_works_once(business, production, quickbooks, task_queue):
    flow = open_flow(business, production, "QUICKBOOKS")
    started = start(business, flow)
    back = consent(started["Location"])

    first = business.get(back)
    again = business.get(back)

    assert first.status_code == 302
    assert again.status_code == 400
    assert len(quickbooks.token_requests) == 1
    assert Connection.objects.count() == 1


def test_a_reload_during_the_exchange_does_not_exchange_again(
    business, production, quickbooks
):
    flow = open_flow(business, production, "QUICKBOOKS")
    back = consent(start(business, flow)["Location"])
    state = query_of(back)["state"]
    # The first request for this state claimed it and is still running.
    cache.add(f"oauth-state:{crypto.keyed_hash(state)}", True)

    response = business.get(back)

    assert response["Location"] == success_url(flow)
    assert quickbooks.token_requests == []
    assert state in business.session[oauth.PENDING_KEY]


def test_a_state_from_another_browser_is_refused(business, production, quickbooks):
    flow = open_flow(business, production, "QUICKBOOKS")
    started = start(business, flow)
    back = consent(started["Location"])
    attacker = Client()
    open_flow(attacker, production, "QUICKBOOKS")

    response = attacker.get(back)

    assert response.status_code == 400
    assert quickbooks.token_requests == []
    assert not Connection.objects.exists()


def test_a_state_older_than_ten_minutes_sends_the_business_back(
    business, production, quickbooks
):
    flow = open_flow(business, production, "QUICKBOOKS")
    started = start(business, flow)
    back = consent(started["Location"])
    session = business.session
    for pending in session[oauth.PENDING_KEY].values():
        pending["expires_at"] -= oauth.STATE_LIFETIME_SECONDS + 1
    session.save()

    response = business.get(back)

    assert response["Location"] == sign_in_url(flow)
    assert "took too long" in reload_flow(business, flow).error
    assert quickbooks.token_requests == []
    assert not Connection.objects.exists()


def test_an_expired_code_sends_the_business_back(business, production, quickbooks):
    quickbooks.code_lifetime = -1
    flow = open_flow(business, production, "QUICKBOOKS")

    response = sign_in(business, flow)

    assert response["Location"] == sign_in_url(flow)
    error = reload_flow(business, flow).error
    assert error == (
        "The sign-in code from QuickBooks Online expired or was already used. "
        "Please sign in again."
    )
    assert not Connection.objects.exists()


def test_a_wrong_client_secret_is_explained_and_logged(
    business, production, quickbooks, caplog
):
    quickbooks.client_secret = "the-secret-was-rotated"
    flow = open_flow(business, production, "QUICKBOOKS")

    with caplog.at_level(logging.WARNING, logger="platforms.oauth_views"):
        response = sign_in(business, flow)

    assert response["Location"] == sign_in_url(flow)
    assert "did not accept this app's credentials" in reload_flow(business, flow).error
    assert not Connection.objects.exists()
    [record] = caplog.records
    assert "invalid_client" in record.getMessage()
    assert flow.flow_id in record.getMessage()


def test_a_failing_token_endpoint_sends_the_business_back(
    business, production, quickbooks
):
    quickbooks.token_status = 500
    flow = open_flow(business, production, "QUICKBOOKS")

    response = sign_in(business, flow)

    assert response["Location"] == sign_in_url(flow)
    assert reload_flow(business, flow).error == (
        "QuickBooks Online could not finish the sign-in (server_error). "
        "Please try again in a moment."
    )
    assert not Connection.objects.exists()


def test_a_token_endpoint_that_hangs_is_given_up_on(
    business, production, quickbooks, settings
):
    settings.OAUTH_HTTP_TIMEOUT = 0.3
    quickbooks.token_delay = 2
    flow = open_flow(business, production, "QUICKBOOKS")

    response = sign_in(business, flow)

    assert response["Location"] == sign_in_url(flow)
    assert "took too long to answer" in reload_flow(business, flow).error
    assert not Connection.objects.exists()


def test_a_token_answer_that_trickles_in_is_given_up_on(
    business, production, quickbooks, settings
):
    settings.OAUTH_HTTP_TIMEOUT = 0.5
    quickbooks.token_trickle = 0.2  # each piece in time, the whole too late
    flow = open_flow(business, production, "QUICKBOOKS")

    response = sign_in(business, flow)

    assert response["Location"] == sign_in_url(flow)
    assert "took too long to answer" in reload_flow(business, flow).error
    assert not Connection.objects.exists()


def test_an_oversized_token_answer_is_not_read(business, production, quickbooks):
    quickbooks.token_padding = oauth.MAX_RESPONSE_BYTES
    flow = open_flow(business, production, "QUICKBOOKS")

    response = sign_in(business, flow)

    assert response["Location"] == sign_in_url(flow)
    assert "sent an answer that could not be read" in reload_flow(business, flow).error
    assert not Connection.objects.exists()


def test_an_unreachable_token_endpoint_sends_the_business_back(
    business, production, quickbooks, settings
):
    flow = open_flow(business, production, "QUICKBOOKS")
    started = start(business, flow)
    back = consent(started["Location"])
    quickbooks.stop()

    response = business.get(back)

    assert response["Location"] == sign_in_url(flow)
    assert "could not be reached" in reload_flow(business, flow).error
    quickbooks.start()  # The fixture stops it again.


def test_start_without_saved_credentials_is_refused(business, production, quickbooks):
    credentials_remove(production, "QUICKBOOKS")
    flow = open_flow(business, production, "QUICKBOOKS")

    response = start(business, flow)

    assert response["Location"] == sign_in_url(flow)
    assert "not available" in reload_flow(business, flow).error
    assert quickbooks.authorize_requests == []


def test_start_for_a_disabled_platform_is_refused(business, production, quickbooks):
    platform_enable(production, "QUICKBOOKS", False)
    flow = open_flow(business, production, "QUICKBOOKS")

    response = start(business, flow)

    assert response["Location"] == sign_in_url(flow)
    assert "not available" in reload_flow(business, flow).error


def test_credentials_removed_during_consent_stop_the_exchange(
    business, production, quickbooks
):
    flow = open_flow(business, production, "QUICKBOOKS")
    started = start(business, flow)
    back = consent(started["Location"])
    credentials_remove(production, "QUICKBOOKS")

    response = business.get(back)

    assert response["Location"] == sign_in_url(flow)
    assert quickbooks.token_requests == []
    assert not Connection.objects.exists()


def test_a_platform_that_signs_in_with_credentials_is_refused(business, production):
    flow = open_flow(business, production, "NETSUITE")

    response = start(business, flow)

    assert response.status_code == 400


def test_a_platform_without_credentials_is_not_available_in_the_picker(
    business, production, quickbooks
):
    credentials_remove(production, "QUICKBOOKS")
    flow = open_flow(business, production, "")

    page = business.get(reverse("link:picker", args=[flow.flow_id]))

    html = page.content.decode()
    assert page.status_code == 200
    quickbooks_entry = html[html.index("QuickBooks Online") :][:600]
    assert "Not available" in quickbooks_entry


def test_reauthorisation_keeps_the_connection_id_and_access_token(
    business, production, quickbooks, task_queue
):
    connection = ConnectionFactory(
        organisation=production.organisation,
        environment=production.environment,
        platform="QUICKBOOKS",
        needs_reauth=True,
        needs_reauth_reason="Token revoked at QuickBooks",
        access_token="access-production-kept",
    )
    old = PlatformGrant(connection=connection, tenant_id=quickbooks.tenant_id)
    old.set_tokens("old-access", "old-refresh")
    old.save()
    flow = open_flow(
        business, production, "QUICKBOOKS", reauth_connection_id=str(connection.id)
    )

    response = sign_in(business, flow)

    assert response["Location"] == success_url(flow)
    assert Connection.objects.count() == 1
    connection.refresh_from_db()
    assert connection.access_token() == "access-production-kept"
    assert not connection.needs_reauth
    grant = PlatformGrant.objects.get(connection=connection)
    assert grant.pk == old.pk
    assert grant.access_token() == quickbooks.issued_access_tokens[0]
    assert grant.refresh_token() != "old-refresh"


def test_reauthorising_into_a_different_company_is_refused(
    business, production, quickbooks
):
    connection = ConnectionFactory(
        organisation=production.organisation,
        environment=production.environment,
        platform="QUICKBOOKS",
        needs_reauth=True,
    )
    old = PlatformGrant(connection=connection, tenant_id="another-realm")
    old.set_tokens("old-access", "old-refresh")
    old.save()
    flow = open_flow(
        business, production, "QUICKBOOKS", reauth_connection_id=str(connection.id)
    )

    response = sign_in(business, flow)

    assert response["Location"] == sign_in_url(flow)
    assert "different QuickBooks Online company" in reload_flow(business, flow).error
    connection.refresh_from_db()
    assert connection.needs_reauth
    assert PlatformGrant.objects.get().access_token() == "old-access"


@pytest.fixture
def shopify(settings, provider, production):
    connect_platform(settings, provider, production, "SHOPIFY")
    return provider


def test_shopify_asks_which_store_first(business, production, shopify):
    flow = open_flow(business, production, "SHOPIFY")

    response = start(business, flow)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Your Shopify store address" in html
    assert f'action="{reverse("oauth:start", args=[flow.flow_id])}"' in html
    assert shopify.authorize_requests == []


def test_a_store_address_that_is_not_shopifys_is_refused_next_to_the_field(
    business, production, shopify
):
    flow = open_flow(business, production, "SHOPIFY")

    response = start(business, flow, shop="internal.example.com")

    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter your store&#x27;s myshopify.com address" in html
    assert 'value="internal.example.com"' in html
    assert oauth.PENDING_KEY not in business.session


def test_shopify_connects_the_store_the_business_named(business, production, shopify):
    flow = open_flow(business, production, "SHOPIFY")

    started = start(business, flow, shop="Acme-Store")
    sent = query_of(started["Location"])
    response = business.get(consent(started["Location"]))

    assert sent["scope"] == "read_orders,read_products,read_customers"
    assert response["Location"] == success_url(flow)
    connection = production.all(Connection).get()
    assert connection.store_name == "acme-store.myshopify.com"
    assert PlatformGrant.objects.get().tenant_id == "acme-store.myshopify.com"
    form = shopify.token_requests[0]["form"]
    assert form["client_secret"] == shopify.client_secret  # JSON body, no Basic


def test_link_pages_headers_are_on_the_callback(business, production, quickbooks):
    flow = open_flow(business, production, "QUICKBOOKS")

    response = sign_in(business, flow, decision="deny")

    # The callback's address holds the code: never sent to another site.
    assert response["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert response["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_start_before_consent_goes_to_the_landing_step(
    business, production, quickbooks
):
    flow = open_flow(business, production, "QUICKBOOKS", consented=False)

    response = start(business, flow)

    assert response["Location"] == reverse("link:landing", args=[flow.flow_id])
    assert oauth.PENDING_KEY not in business.session


def test_consent_given_in_two_tabs_connects_once(
    business, production, quickbooks, task_queue
):
    flow = open_flow(business, production, "QUICKBOOKS")
    first_tab = consent(start(business, flow)["Location"])
    second_tab = consent(start(business, flow)["Location"])

    business.get(first_tab)
    response = business.get(second_tab)

    assert response["Location"] == success_url(flow)
    assert len(quickbooks.token_requests) == 1
    assert Connection.objects.count() == 1


def test_start_after_connecting_shows_the_success_step(
    business, production, quickbooks, task_queue
):
    flow = open_flow(business, production, "QUICKBOOKS")
    sign_in(business, flow)

    response = start(business, flow)

    assert response["Location"] == success_url(flow)
    assert len(quickbooks.authorize_requests) == 1


def test_no_code_token_or_secret_reaches_the_logs(
    business, production, quickbooks, task_queue, caplog
):
    flow = open_flow(business, production, "QUICKBOOKS")

    back = consent(start(business, flow)["Location"])  # the browser's part
    caplog.clear()

    with caplog.at_level(logging.DEBUG):
        business.get(back)
        oauth.refresh_grant(PlatformGrant.objects.get())

    secrets = [
        query_of(back)["code"],
        quickbooks.client_secret,
        *quickbooks.issued_access_tokens,
        *(
            request["form"].get("refresh_token")
            for request in quickbooks.token_requests[1:]
        ),
        PlatformGrant.objects.get().refresh_token(),
    ]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Stored QUICKBOOKS grant" in logged
    assert "Refreshed the QUICKBOOKS grant" in logged
    for secret in secrets:
        assert secret not in logged


def test_another_consent_error_is_reported_and_logged(
    business, production, quickbooks, caplog
):
    flow = open_flow(business, production, "QUICKBOOKS")
    state = query_of(start(business, flow)["Location"])["state"]

    with caplog.at_level(logging.WARNING, logger="platforms.oauth_views"):
        response = business.get(
            reverse("oauth:callback"), {"state": state, "error": "invalid_scope"}
        )

    assert response["Location"] == sign_in_url(flow)
    error = reload_flow(business, flow).error
    assert error == "QuickBooks Online stopped the sign-in. Please try again."
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "'invalid_scope'" in warnings[0].getMessage()
    assert not Connection.objects.exists()


def test_a_callback_without_a_code_is_reported(business, production, quickbooks):
    flow = open_flow(business, production, "QUICKBOOKS")
    state = query_of(start(business, flow)["Location"])["state"]

    response = business.get(reverse("oauth:callback"), {"state": state})

    assert response["Location"] == sign_in_url(flow)
    assert "did not complete the sign-in" in reload_flow(business, flow).error
    assert quickbooks.token_requests == []
