"""Resync, disable, enable and delete from the connection page."""

import datetime
from decimal import Decimal

import pytest
from django_tasks_db.models import DBTaskResult

from connections.models import (
    Account,
    Connection,
    EntitySync,
    JournalEntry,
    JournalLine,
)
from link.models import AwaitingLink
from rutterdash.environments import Environment
from tests.factories import ConnectionFactory
from tests.write_support import add_parties

ACTIONS = ["resync", "disable", "enable", "delete"]
ADMIN_ONLY = ["disable", "enable", "delete"]


@pytest.fixture
def connection(organisation):
    return ConnectionFactory(organisation=organisation, store_name="Bluebell Bakery")


def action_url(connection, action):
    return f"/connections/{connection.pk}/{action}/"


def detail_url(connection):
    return f"/connections/{connection.pk}/"


def untouched(connection):
    """Still there, enabled, and with no new sync queued."""
    return Connection.objects.filter(
        pk=connection.pk, disabled=False, sync_status="succeeded"
    ).exists()


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize("action", ACTIONS)
def test_get_is_not_allowed(admin_client, connection, action):
    response = admin_client.get(action_url(connection, action))

    assert response.status_code == 405
    assert untouched(connection)


@pytest.mark.parametrize("action", ACTIONS)
def test_anonymous_visitor_is_sent_to_sign_in(client, connection, action):
    response = client.post(action_url(connection, action))

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert untouched(connection)


@pytest.mark.parametrize("action", ACTIONS)
def test_outsider_gets_not_found(outsider_client, connection, action):
    response = outsider_client.post(action_url(connection, action))

    assert response.status_code == 404
    assert untouched(connection)


@pytest.mark.parametrize("action", ACTIONS)
def test_production_connection_is_not_found_from_sandbox(
    admin_client, organisation, action
):
    live = ConnectionFactory(
        organisation=organisation, environment=Environment.PRODUCTION
    )

    response = admin_client.post(action_url(live, action))

    assert response.status_code == 404
    assert untouched(live)


@pytest.mark.parametrize("action", ADMIN_ONLY)
def test_developer_is_forbidden_destructive_actions(
    developer_client, organisation, action
):
    connection = ConnectionFactory(
        organisation=organisation, disabled=True, disabled_reason="Paused"
    )

    response = developer_client.post(action_url(connection, action))

    assert response.status_code == 403
    connection.refresh_from_db()
    assert (connection.disabled, connection.disabled_reason) == (True, "Paused")


def test_any_member_can_queue_a_resync(
    developer_client, organisation, django_capture_on_commit_callbacks
):
    connection = ConnectionFactory(
        organisation=organisation,
        store_name="Atlas Outdoor",
        sync_status="failed",
        sync_error="Upstream timed out",
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = developer_client.post(
            action_url(connection, "resync"), follow=True
        )

    assert response.redirect_chain == [(detail_url(connection), 302)]
    assert messages_of(response) == ["Resync queued for Atlas Outdoor."]
    connection.refresh_from_db()
    assert (connection.sync_status, connection.sync_error) == ("queued", "")
    task = DBTaskResult.objects.get()
    assert task.args_kwargs["args"][0] == str(connection.pk)


def test_resync_is_refused_when_it_would_erase_written_records(
    developer_client, connection, django_capture_on_commit_callbacks
):
    add_parties(connection)

    with django_capture_on_commit_callbacks(execute=True):
        response = developer_client.post(
            action_url(connection, "resync"), follow=True
        )

    assert "written through the API" in messages_of(response)[0]
    assert not DBTaskResult.objects.exists()
    assert untouched(connection)


def test_resync_of_a_disabled_connection_is_refused(
    admin_client, organisation, django_capture_on_commit_callbacks
):
    connection = ConnectionFactory(organisation=organisation, disabled=True)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            action_url(connection, "resync"), follow=True
        )

    assert messages_of(response) == [
        "Enable this connection before syncing it again."
    ]
    connection.refresh_from_db()
    assert connection.sync_status == "succeeded"
    assert not DBTaskResult.objects.exists()


def test_admin_disables_with_a_reason(admin_client, connection):
    response = admin_client.post(
        action_url(connection, "disable"),
        {"reason": "Loan repaid"},
        follow=True,
    )

    assert response.redirect_chain == [(detail_url(connection), 302)]
    assert messages_of(response) == ["Disabled Bluebell Bakery: Loan repaid"]
    connection.refresh_from_db()
    assert (connection.disabled, connection.disabled_reason) == (
        True,
        "Loan repaid",
    )


def test_disable_without_a_reason_records_where_it_came_from(
    admin_client, connection
):
    admin_client.post(action_url(connection, "disable"), {"reason": "  "})

    connection.refresh_from_db()
    assert connection.disabled
    assert connection.disabled_reason == "Disabled from the dashboard"


def test_disable_with_an_overlong_reason_is_a_bad_request(admin_client, connection):
    response = admin_client.post(
        action_url(connection, "disable"), {"reason": "x" * 201}
    )

    assert response.status_code == 400
    connection.refresh_from_db()
    assert not connection.disabled


def test_admin_enables_a_disabled_connection(admin_client, organisation):
    connection = ConnectionFactory(
        organisation=organisation, disabled=True, disabled_reason="Paused"
    )

    response = admin_client.post(action_url(connection, "enable"), follow=True)

    assert response.redirect_chain == [(detail_url(connection), 302)]
    connection.refresh_from_db()
    assert (connection.disabled, connection.disabled_reason) == (False, "")
    assert messages_of(response) == [f"Enabled {connection.store_name}."]


def test_enabling_requeues_a_sync_that_was_skipped_while_disabled(
    admin_client, organisation, django_capture_on_commit_callbacks
):
    connection = ConnectionFactory(
        organisation=organisation, disabled=True, is_ready=False, sync_status="queued"
    )

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(action_url(connection, "enable"))

    queued = DBTaskResult.objects.filter(args_kwargs__args=[str(connection.pk), 1])
    assert queued.count() == 1


def test_admin_deletes_a_connection_and_its_books(admin_client, connection):
    add_books(connection)

    response = admin_client.post(action_url(connection, "delete"), follow=True)

    assert response.redirect_chain == [("/connections/", 302)]
    assert messages_of(response) == [
        "Deleted Bluebell Bakery and all of its synced data."
    ]
    assert not Connection.objects.filter(pk=connection.pk).exists()
    assert not JournalLine.objects.exists()
    assert not EntitySync.objects.exists()


def add_books(connection):
    EntitySync.objects.create(connection=connection, entity="accounts", count=2)
    bank, capital = (
        Account.objects.create(
            connection=connection,
            platform_id=code,
            name=name,
            account_type=kind,
            category=category,
        )
        for code, name, kind, category in [
            ("1000", "Bank", "bank", "asset"),
            ("3000", "Capital", "equity", "equity"),
        ]
    )
    day = datetime.date(2024, 1, 1)
    entry = JournalEntry.objects.create(
        connection=connection,
        platform_id="je-1",
        transaction_date=day,
        source_type="manual",
    )
    for account, amount in [(bank, "100.00"), (capital, "-100.00")]:
        JournalLine.objects.create(
            entry=entry,
            connection=connection,
            transaction_date=day,
            account=account,
            amount=Decimal(amount),
        )


def test_resync_of_a_connection_still_waiting_for_link_is_refused(
    admin_client, organisation, django_capture_on_commit_callbacks
):
    connection = ConnectionFactory(organisation=organisation)
    AwaitingLink.objects.create(connection=connection)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(action_url(connection, "resync"), follow=True)

    [message] = messages_of(response)
    assert "has not authorised it in Link" in message
    assert connection.link_url in message
    connection.refresh_from_db()
    assert connection.sync_status == "succeeded"
    assert not DBTaskResult.objects.exists()
