"""The connection page: summary, per-entity sync status and live progress."""

import datetime

import pytest
from django.core.cache import cache
from django.utils import timezone

from connections.models import EntitySync
from connections.sync import progress_key
from rutterdash.environments import Environment
from tests.conftest import signed_in_client
from tests.factories import ConnectionFactory


@pytest.fixture
def connection(organisation):
    return ConnectionFactory(
        organisation=organisation,
        platform="XERO",
        store_name="Juniper Coffee Roasters",
        store_domain="junipercoffee.xero.com",
    )


def url(connection):
    return f"/connections/{connection.pk}/"


def test_anonymous_visitor_is_sent_to_sign_in(client, connection):
    response = client.get(url(connection))

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_outsider_gets_not_found(outsider_client, connection):
    response = outsider_client.get(url(connection))

    assert response.status_code == 404
    assert b"Juniper" not in response.content


@pytest.mark.parametrize("persona", ["developer_client", "admin_client"])
def test_members_see_the_summary(request, persona, connection):
    response = request.getfixturevalue(persona).get(url(connection))

    assert response.status_code == 200
    for text in (
        "Juniper Coffee Roasters",
        "junipercoffee.xero.com",
        "Xero",
        str(connection.pk),
        connection.access_token_prefix,
    ):
        assert text.encode() in response.content


def test_summary_never_shows_the_full_token(developer_client, connection):
    response = developer_client.get(url(connection))

    assert connection.access_token().encode() not in response.content


def test_production_connection_is_not_found_from_sandbox(
    developer_client, organisation
):
    live = ConnectionFactory(
        organisation=organisation, environment=Environment.PRODUCTION
    )

    response = developer_client.get(url(live))

    assert response.status_code == 404


def test_sandbox_connection_is_not_found_from_production(developer, connection):
    client = signed_in_client(developer, Environment.PRODUCTION)

    response = client.get(url(connection))

    assert response.status_code == 404


def test_unknown_id_is_not_found(developer_client, db):
    response = developer_client.get(
        "/connections/00000000-0000-4000-8000-000000000000/"
    )

    assert response.status_code == 404


def test_summary_shows_disabled_and_reauth_reasons(developer_client, organisation):
    connection = ConnectionFactory(
        organisation=organisation,
        disabled=True,
        disabled_reason="Customer churned",
        needs_reauth=True,
        needs_reauth_reason="Token revoked at Xero",
    )

    response = developer_client.get(url(connection))

    assert b"Yes: Customer churned" in response.content
    assert b"Yes: Token revoked at Xero" in response.content
    assert b"Needs maintenance" in response.content


def test_failed_sync_shows_its_error(developer_client, organisation):
    connection = ConnectionFactory(
        organisation=organisation,
        sync_status="failed",
        sync_error="Upstream timed out after 30 s",
        sync_attempt=2,
    )

    response = developer_client.get(url(connection))

    assert b"The last sync failed (attempt 2)" in response.content
    assert b"Upstream timed out after 30 s" in response.content


def test_entity_sync_rows_are_listed_in_sync_order(developer_client, connection):
    synced_at = timezone.make_aware(datetime.datetime(2024, 5, 6, 7, 8))
    EntitySync.objects.create(
        connection=connection, entity="invoices", status="succeeded", count=412
    )
    EntitySync.objects.create(
        connection=connection,
        entity="accounts",
        status="succeeded",
        count=37,
        last_synced_at=synced_at,
    )

    response = developer_client.get(url(connection))

    rows = response.context["entity_syncs"]
    assert [row["label"] for row in rows] == ["Accounts", "Invoices"]
    assert b"412" in response.content
    assert b"6 May 2024 07:08" in response.content


@pytest.fixture
def syncing(organisation):
    return ConnectionFactory(
        organisation=organisation,
        is_ready=False,
        sync_status="running",
        sync_progress=40,
    )


def test_syncing_connection_shows_progress_and_refreshes(developer_client, syncing):
    response = developer_client.get(url(syncing))

    assert b'<progress id="sync-progress" max="100" value="40">' in (
        response.content
    )
    assert b'<meta http-equiv="refresh"' in response.content
    assert b'data-syncing="true"' in response.content


def test_no_script_refresh_sits_outside_the_part_the_script_swaps(
    developer_client, syncing
):
    # Parsed by the polling script, a refresh inside #live would reload the
    # page and wipe a one-time message such as a new access token.
    content = developer_client.get(url(syncing)).content

    assert content.index(b"<noscript>") < content.index(b'id="live"')


def test_running_sync_shows_live_progress_from_the_worker(
    developer_client, syncing, settings
):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    EntitySync.objects.create(connection=syncing, entity="invoices", count=3)
    live = {"percent": 65, "counts": {"invoices": 1234}}
    cache.set(progress_key(syncing.pk), live)

    response = developer_client.get(url(syncing))

    assert b'<progress id="sync-progress" max="100" value="65">' in (
        response.content
    )
    assert response.context["entity_syncs"][0]["count"] == 1234
    assert b"1234" in response.content


def test_refresh_waits_while_a_message_is_on_screen(developer_client, syncing):
    developer_client.post(f"/connections/{syncing.pk}/resync/")

    response = developer_client.get(url(syncing))

    assert b"Resync queued" in response.content
    assert b'<meta http-equiv="refresh"' not in response.content
    assert b"fetch(window.location.href" in response.content


def test_active_connection_does_not_refresh(developer_client, connection):
    response = developer_client.get(url(connection))

    assert b"<progress" not in response.content
    assert b"refresh" not in response.content
    assert b'data-syncing="false"' in response.content


def test_downloads_wait_for_the_first_completed_sync(developer_client, connection):
    response = developer_client.get(url(connection))

    assert b"Downloads are ready once the first sync" in response.content
    assert f"{url(connection)}export/".encode() not in response.content


def test_admin_sees_disable_and_delete(admin_client, connection):
    response = admin_client.get(url(connection))

    assert f'action="{url(connection)}disable/"'.encode() in response.content
    assert f'action="{url(connection)}delete/"'.encode() in response.content
    assert f'action="{url(connection)}resync/"'.encode() in response.content


def test_admin_sees_enable_for_a_disabled_connection(admin_client, organisation):
    connection = ConnectionFactory(organisation=organisation, disabled=True)

    response = admin_client.get(url(connection))

    assert f'action="{url(connection)}enable/"'.encode() in response.content
    assert f'action="{url(connection)}disable/"'.encode() not in response.content


def test_developer_sees_only_resync_enabled(developer_client, connection):
    response = developer_client.get(url(connection))

    assert f'action="{url(connection)}resync/"'.encode() in response.content
    assert f"{url(connection)}disable/".encode() not in response.content
    assert f"{url(connection)}delete/".encode() not in response.content
    assert b"Only admins can disable, enable or delete" in response.content
