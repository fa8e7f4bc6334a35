"""The switch after a form error, 405 pages, and objects in the other environment."""

import pytest

from rutterdash.environments import Environment
from rutterdash.scoping import Scope
from tests.factories import ConnectionFactory, OrganisationFactory
from tests.webhooks_page_support import (  # noqa: F401 (autouse fixture)
    destination_in,
    event_in,
    message_to,
    safe_addresses,
)

SWITCH_URL = "/environment/"


@pytest.mark.parametrize(
    ("post_only", "landing"),
    [
        ("/settings/password/", "/settings/"),
        ("/settings/account/", "/settings/"),
        ("/settings/invites/", "/settings/"),
        ("/connections/create/", "/connections/"),
        ("/customize/save", "/customize/"),
        ("/api-keys/rotate/", "/"),
    ],
)
def test_the_switch_on_a_form_error_page_lands_on_a_page_that_opens(
    admin_client, post_only, landing
):
    response = admin_client.post(
        SWITCH_URL, {"environment": "production", "next": post_only}
    )

    assert response.status_code == 302
    assert response.url == landing
    assert admin_client.get(response.url).status_code == 200


def test_the_switch_keeps_a_list_page_and_its_query(admin_client):
    response = admin_client.post(
        SWITCH_URL, {"environment": "production", "next": "/connections/?q=shop"}
    )

    assert response.url == "/connections/?q=shop"


def test_the_switch_after_a_refused_password_change_opens_settings(admin_client):
    refused = admin_client.post("/settings/password/", {"old_password": "wrong"})
    assert refused.status_code == 200
    assert b'value="/settings/password/"' in refused.content

    response = admin_client.post(
        SWITCH_URL,
        {"environment": "production", "next": "/settings/password/"},
        follow=True,
    )

    assert response.status_code == 200
    assert response.request["PATH_INFO"] == "/settings/"
    assert admin_client.session["environment"] == "production"


def test_opening_a_post_only_address_shows_a_dashboard_page(admin_client):
    response = admin_client.get("/settings/password/")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert b"only takes a form" in response.content
    assert b'class="sidebar"' in response.content


def test_a_405_for_someone_signed_out_is_a_page_too(client, db):
    response = client.get("/environment/")

    assert response.status_code == 405
    assert b"only takes a form" in response.content


def test_the_api_keeps_its_own_405(admin_client):
    response = admin_client.delete("/versioned/connections/create")

    assert response.status_code == 405
    assert response.json()["error_code"] == "METHOD_NOT_ALLOWED"


def _elsewhere_page(response, environment_label):
    assert response.status_code == 404
    assert f"is in {environment_label}".encode() in response.content
    assert b'name="open_object"' in response.content


def test_a_production_tab_opening_a_sandbox_connection_offers_the_switch(
    admin_client, organisation
):
    connection = ConnectionFactory(organisation=organisation)
    page = f"/connections/{connection.pk}/"
    admin_client.post(SWITCH_URL, {"environment": "production", "next": "/"})

    response = admin_client.get(page)

    _elsewhere_page(response, "Sandbox")
    assert b"This connection is in Sandbox" in response.content
    switched = admin_client.post(
        SWITCH_URL,
        {"environment": "sandbox", "next": page, "open_object": "on"},
    )
    assert switched.url == page
    assert admin_client.get(page).context["connection"] == connection


def test_a_form_sent_to_a_connection_in_the_other_environment_offers_its_page(
    admin_client, organisation
):
    connection = ConnectionFactory(organisation=organisation)
    admin_client.post(SWITCH_URL, {"environment": "production", "next": "/"})

    response = admin_client.post(f"/connections/{connection.pk}/resync/")

    _elsewhere_page(response, "Sandbox")
    assert response.context["next"] == f"/connections/{connection.pk}/"


def test_another_organisations_connection_stays_a_plain_404(admin_client):
    stranger = ConnectionFactory(organisation=OrganisationFactory())
    other_environment = ConnectionFactory(
        organisation=stranger.organisation, environment=Environment.PRODUCTION
    )

    for connection in (stranger, other_environment):
        response = admin_client.get(f"/connections/{connection.pk}/")
        assert response.status_code == 404
        assert b"is in Sandbox" not in response.content
        assert b"is in Production" not in response.content
        assert b"open_object" not in response.content


def test_a_sandbox_tab_opening_a_production_destination_offers_the_switch(
    admin_client, production
):
    destination = destination_in(production)

    response = admin_client.get(f"/webhooks/destinations/{destination.pk}/")

    _elsewhere_page(response, "Production")
    assert b"This destination is in Production" in response.content


def test_a_message_from_the_other_environment_offers_the_switch(
    admin_client, production
):
    message = message_to(destination_in(production), event_in(production))

    response = admin_client.get(f"/webhooks/messages/{message.pk}/")

    _elsewhere_page(response, "Production")
    assert b"This message is in Production" in response.content


def test_another_organisations_message_stays_a_plain_404(admin_client):
    stranger = Scope(OrganisationFactory(), Environment.SANDBOX)
    message = message_to(destination_in(stranger), event_in(stranger))

    response = admin_client.get(f"/webhooks/messages/{message.pk}/")

    assert response.status_code == 404
    assert b"open_object" not in response.content
