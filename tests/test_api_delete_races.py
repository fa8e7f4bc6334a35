"""Deleting a connection while API writes to it are in flight (PostgreSQL).

Real concurrency: each thread is its own client with its own database
connection. Whatever the interleaving, the delete succeeds, no write
answers 500 (no IntegrityError, no deadlock), every write either
committed before the delete or was refused as a deleted connection's
token is, and nothing of the connection is left behind.
"""

import threading
import time

import pytest
from django.db import connection as db
from django.db import connections

from accounts.services import api_key_create
from connections import sync
from connections.models import (
    ENTITIES,
    Account,
    Connection,
    Customer,
    EntitySync,
    JournalEntry,
    JournalLine,
    SyncStatus,
)
from connections.services import connection_delete
from connections.sync import run_sync
from rutterdash.environments import Environment
from tests import write_support as ws
from tests.api_support import api_client, basic_auth
from tests.factories import ConnectionFactory

pytestmark = [
    pytest.mark.skipif(
        db.vendor == "sqlite", reason="SQLite cannot hold two writers at once"
    ),
    pytest.mark.django_db(transaction=True),
]

TOKEN = "access-sandbox-delete-race-1"
WRITERS = 6
ROUNDS = 3


def _customer_body(chart, number):
    return ws.customer_body(f"Customer {number}")


def _journal_body(chart, number):
    return ws.journal_body(chart, [("1000", number + 1), ("3000", -(number + 1))])


BODIES = {"customers": _customer_body, "journal_entries": _journal_body}


def _race(organisation, entity, delay):
    """Six writers post until refused; a seventh client deletes meanwhile."""
    connection = ConnectionFactory(organisation=organisation, access_token=TOKEN)
    chart = ws.add_chart(connection)
    api_key, secret = api_key_create(organisation, Environment.SANDBOX)
    authorization = basic_auth(api_key.client_id, secret)
    clients = [api_client(authorization) for _ in range(WRITERS + 1)]
    start = threading.Barrier(WRITERS + 1)
    answers = {number: [] for number in range(WRITERS)}
    failures = []
    deleted = []
    first_write = threading.Event()

    def write(number):
        client = clients[number]
        try:
            start.wait()
            for attempt in range(200):
                body = BODIES[entity](chart, number * 1000 + attempt)
                response = client.post(
                    f"/versioned/accounting/{entity}?access_token={TOKEN}",
                    body,
                    content_type="application/json",
                )
                answers[number].append((response.status_code, response.json()))
                if response.status_code != 200:
                    return
                first_write.set()
        except Exception as error:  # pragma: no cover - reported below
            failures.append(repr(error))
        finally:
            connections.close_all()

    def delete():
        try:
            start.wait()
            first_write.wait(timeout=30)
            time.sleep(delay)
            response = clients[WRITERS].delete(
                f"/versioned/connections/{connection.id}"
            )
            deleted.append((response.status_code, response.json()))
        except Exception as error:  # pragma: no cover - reported below
            failures.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    threads.append(threading.Thread(target=delete))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return connection, answers, deleted, failures


@pytest.mark.parametrize("entity", BODIES)
@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_delete_racing_writes_answers_no_500_and_leaves_nothing(
    organisation, entity, round_number
):
    delay = 0.02 * round_number
    connection, answers, deleted, failures = _race(organisation, entity, delay)

    assert failures == []
    assert deleted == [(200, {"success": True})]
    assert not Connection.objects.filter(pk=connection.pk).exists()
    for model in (Customer, JournalEntry, JournalLine):
        assert not model.objects.filter(connection_id=connection.pk).exists()

    succeeded = 0
    for number, replies in answers.items():
        statuses = [status for status, _ in replies]
        # Writes succeed until the delete, then are refused; never a 500.
        assert statuses, f"writer {number} never answered"
        assert set(statuses[:-1]) <= {200}, statuses
        status, body = replies[-1]
        assert status == 401, (status, body)
        assert body["error_code"] == "INVALID_CREDENTIALS"
        succeeded += len(statuses) - 1
    # The race really raced: writes were committed before the delete.
    assert succeeded > 0


def _in_threads(*targets):
    """Run each target in its own thread (own database connection); errors."""
    errors = []

    def run(target):
        try:
            target()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def _synced_connection(organisation, settings):
    settings.SANDBOX_MONTHS = 6
    connection = ConnectionFactory(organisation=organisation, access_token=TOKEN)
    EntitySync.objects.bulk_create(
        EntitySync(connection=connection, entity=entity) for entity in ENTITIES
    )
    run_sync(connection.id)
    return connection


def test_a_delete_during_a_sync_waits_for_it_then_removes_everything(
    organisation, settings, monkeypatch
):
    connection = _synced_connection(organisation, settings)
    syncing = threading.Event()
    deleted = []
    real_delete_books = sync.delete_books

    def delete_books_then_signal(connection_):
        real_delete_books(connection_)
        if threading.current_thread().name == "sync":
            syncing.set()  # the sync holds the connection's row lock now

    def delete():
        syncing.wait(timeout=30)
        deleted.append(connection_delete(Connection.objects.get(pk=connection.pk)))

    monkeypatch.setattr(sync, "delete_books", delete_books_then_signal)
    errors = []
    # Named, so that only the sync's own delete_books signals.
    syncer = threading.Thread(target=_named_sync(connection, errors), name="sync")
    syncer.start()
    deleter_errors = _in_threads(delete)
    syncer.join(timeout=120)

    assert errors == [] and deleter_errors == []
    assert deleted == [True]
    assert not Connection.objects.filter(pk=connection.pk).exists()
    for model in (Account, Customer, JournalEntry, JournalLine):
        assert not model.objects.filter(connection_id=connection.pk).exists()


def _named_sync(connection, errors):
    def run():
        try:
            run_sync(connection.id)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(repr(error))
        finally:
            connections.close_all()

    return run


def test_api_writes_during_a_sync_wait_for_it_and_never_deadlock(
    organisation, settings
):
    connection = _synced_connection(organisation, settings)
    bank = Account.objects.filter(connection=connection, account_type="bank").first()
    equity = Account.objects.filter(connection=connection, category="equity").first()
    api_key, secret = api_key_create(organisation, Environment.SANDBOX)
    authorization = basic_auth(api_key.client_id, secret)
    statuses = []

    def write(number):
        def run():
            client = api_client(authorization)
            for attempt in range(15):
                amount = number * 100 + attempt + 1
                entity, body = (
                    ("customers", ws.customer_body(f"Customer {amount}"))
                    if number % 2
                    else ("journal_entries", _entry(bank, equity, amount))
                )
                response = client.post(
                    f"/versioned/accounting/{entity}?access_token={TOKEN}",
                    body,
                    content_type="application/json",
                )
                statuses.append(response.status_code)

        return run

    resyncs = [lambda: sync.sync_books(connection) for _ in range(2)]
    errors = _in_threads(*resyncs, *(write(n) for n in range(4)))

    assert errors == []
    assert set(statuses) == {200}, statuses
    connection.refresh_from_db()
    assert connection.sync_status == SyncStatus.SUCCEEDED


def _entry(bank, equity, amount):
    lines = [
        {"account_id": str(bank.id), "total_amount": amount},
        {"account_id": str(equity.id), "total_amount": -amount},
    ]
    return {
        "journal_entry": {
            "transaction_date": "2024-01-01",
            "currency_code": bank.currency_code,
            "line_items": lines,
        }
    }
