"""The background sync: one transaction, idempotent, retried when it fails."""

import logging
import threading
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DataError, connections
from django.db import connection as db
from django.db.models import Sum
from django.utils import timezone
from django_tasks import TaskResultStatus

from connections import sync
from connections.models import (
    ENTITIES,
    Bill,
    BillPayment,
    CompanyInfo,
    Connection,
    EntitySync,
    Expense,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    JournalEntry,
    JournalLine,
    JournalSource,
    SyncStatus,
)
from connections.services import (
    connection_create,
    connection_delete,
    enqueue_sync,
)
from connections.sync import ENTITY_MODELS, run_sync, sync_progress
from tests.factories import ConnectionFactory

DOCUMENTS = {
    JournalSource.INVOICE: Invoice,
    JournalSource.BILL: Bill,
    JournalSource.INVOICE_PAYMENT: InvoicePayment,
    JournalSource.BILL_PAYMENT: BillPayment,
    JournalSource.EXPENSE: Expense,
}


@pytest.fixture(autouse=True)
def short_books(settings):
    """Three months keep most tests quick; the full-size test asks for more."""
    settings.SANDBOX_MONTHS = 3
    settings.SANDBOX_SCALE = 1.0
    settings.SYNC_RETRY_DELAYS = [30, 300, 1800]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }


@pytest.fixture
def connection(db):
    connection = ConnectionFactory(is_ready=False, sync_status=SyncStatus.QUEUED)
    EntitySync.objects.bulk_create(
        EntitySync(connection=connection, entity=entity) for entity in ENTITIES
    )
    return connection


def books_counts(connection):
    return {
        entity: model.objects.filter(connection=connection).count()
        for entity, model in ENTITY_MODELS.items()
    }


def entity_counts(connection):
    return dict(connection.entity_syncs.values_list("entity", "count"))


def ids(model, connection):
    return set(model.objects.filter(connection=connection).values_list("id", flat=True))


def failing_generator(monkeypatch, message="Sandbox platform timed out", after=6):
    """Make the generator break after writing a few batches."""
    real = sync.generate_books

    def breaks_midway(connection, **options):
        for number, batch in enumerate(real(connection, **options)):
            if number == after:
                raise RuntimeError(message)
            yield batch

    monkeypatch.setattr(sync, "generate_books", breaks_midway)


def test_a_sync_makes_the_connection_ready_with_its_books_counted(connection):
    run_sync(connection.id, 1)

    connection.refresh_from_db()
    counts = books_counts(connection)
    assert connection.is_ready
    assert connection.sync_status == SyncStatus.SUCCEEDED
    assert connection.sync_progress == 100
    assert connection.sync_error == ""
    assert connection.sync_attempt == 1
    assert connection.last_sync_started_at <= connection.last_sync_completed_at
    assert counts["invoices"] > 50 and counts["journal_entries"] > 300
    assert entity_counts(connection) == counts
    assert sync_progress(connection) == {"percent": 100, "counts": counts}
    rows = connection.entity_syncs.all()
    assert {row.status for row in rows} == {SyncStatus.SUCCEEDED}
    assert all(row.last_synced_at == connection.last_sync_completed_at for row in rows)


def test_a_sync_creates_missing_entity_rows(db):
    connection = ConnectionFactory(is_ready=False, sync_status=SyncStatus.QUEUED)

    run_sync(connection.id)

    assert set(entity_counts(connection)) == set(ENTITIES)
    assert entity_counts(connection) == books_counts(connection)


@pytest.mark.django_db(transaction=True)
def test_a_full_size_sync_commits_balanced_books_with_an_entry_per_document(
    settings,
):
    settings.SANDBOX_MONTHS = 24
    connection = ConnectionFactory(is_ready=False, sync_status=SyncStatus.QUEUED)

    started = time.monotonic()
    run_sync(connection.id, 1)
    elapsed = time.monotonic() - started

    # Summed here, not in SQL: SQLite would add the amounts as floats.
    totals = defaultdict(Decimal)
    lines = JournalLine.objects.filter(connection=connection)
    for entry_id, amount in lines.values_list("entry_id", "amount"):
        totals[entry_id] += amount
    assert set(totals.values()) == {Decimal("0.00")}
    assert len(totals) == JournalEntry.objects.filter(connection=connection).count()
    assert lines.count() > 10_000
    for source_type, model in DOCUMENTS.items():
        posted = JournalEntry.objects.filter(
            connection=connection, source_type=source_type
        ).values_list("source_id", flat=True)
        assert sorted(posted) == sorted(ids(model, connection))
    # Generous: a regression to row-by-row writes would take minutes.
    assert elapsed < 30


def test_journal_lines_copy_their_entry_date_and_connection(connection):
    run_sync(connection.id)

    lines = JournalLine.objects.filter(entry__connection=connection)
    assert lines.count() == JournalLine.objects.filter(connection=connection).count()
    for line in lines.select_related("entry")[:500]:
        assert line.transaction_date == line.entry.transaction_date


def test_stored_invoices_keep_their_totals_and_lines(connection):
    run_sync(connection.id)

    invoices = Invoice.objects.filter(connection=connection).annotate(
        lines_total=Sum("lines__total_amount")
    )
    assert invoices.exists()
    for invoice in invoices:
        assert invoice.lines_total == invoice.sub_total
        assert invoice.total_amount == invoice.sub_total + invoice.tax_amount
        assert invoice.amount_due <= invoice.total_amount


def test_resync_keeps_the_same_rows_and_ids(connection):
    run_sync(connection.id, 1)
    first_counts = books_counts(connection)
    first_ids = {model: ids(model, connection) for model in DOCUMENTS.values()}
    lines = InvoiceLine.objects.filter(invoice__connection=connection).count()

    run_sync(connection.id, 1)

    assert books_counts(connection) == first_counts
    assert {model: ids(model, connection) for model in DOCUMENTS.values()} == (
        first_ids
    )
    assert InvoiceLine.objects.filter(invoice__connection=connection).count() == lines
    assert entity_counts(connection) == first_counts


def test_a_sync_leaves_other_connections_books_alone(connection):
    other = ConnectionFactory()
    run_sync(other.id)
    before = books_counts(other)

    run_sync(connection.id)

    assert books_counts(other) == before


def test_progress_is_published_while_the_sync_runs(connection, monkeypatch):
    real = sync.generate_books
    seen = []

    def watched(connection_, **options):
        for batch in real(connection_, **options):
            yield batch
            fresh = Connection.objects.get(pk=connection_.id)
            seen.append((fresh.sync_status, sync_progress(fresh)))

    monkeypatch.setattr(sync, "generate_books", watched)
    run_sync(connection.id)

    statuses = {status for status, _ in seen}
    percents = [progress["percent"] for _, progress in seen]
    invoices = [progress["counts"]["invoices"] for _, progress in seen]
    assert statuses == {SyncStatus.RUNNING}
    assert percents == sorted(percents)
    assert 0 < percents[len(percents) // 2] < 100
    assert max(percents) == 99
    assert invoices == sorted(invoices) and 0 < invoices[-1]
    assert invoices[-1] == books_counts(connection)["invoices"]


def test_a_failing_first_sync_leaves_no_books_and_schedules_a_retry(
    connection, monkeypatch, task_queue
):
    failing_generator(monkeypatch)

    with pytest.raises(RuntimeError):
        run_sync(connection.id, 1)

    connection.refresh_from_db()
    assert set(books_counts(connection).values()) == {0}
    assert not JournalLine.objects.filter(connection=connection).exists()
    assert connection.sync_status == SyncStatus.FAILED
    assert connection.sync_error == (
        "Sync failed: Sandbox platform timed out. Retrying in 30 seconds."
    )
    assert connection.sync_attempt == 1
    assert not connection.is_ready
    statuses = connection.entity_syncs.values_list("status", flat=True)
    assert set(statuses) == {SyncStatus.FAILED}
    [retry] = task_queue.results
    assert retry.args == [str(connection.id), 2]
    assert retry.task.queue_name == "sync"
    expected = timezone.now() + timedelta(seconds=30)
    assert abs(retry.task.run_after - expected) < timedelta(seconds=5)


def test_a_failing_resync_keeps_the_previous_books(
    connection, monkeypatch, task_queue
):
    run_sync(connection.id, 1)
    before = books_counts(connection)
    failing_generator(monkeypatch, after=20)

    with pytest.raises(RuntimeError):
        run_sync(connection.id, 1)

    assert books_counts(connection) == before
    assert entity_counts(connection) == before


def test_a_failure_is_logged_with_the_connection_id(
    connection, monkeypatch, task_queue, caplog
):
    failing_generator(monkeypatch)

    with caplog.at_level(logging.ERROR, logger="connections.sync"):
        with pytest.raises(RuntimeError):
            run_sync(connection.id, 2)

    [record] = caplog.records
    assert str(connection.id) in record.getMessage()
    assert record.exc_info is not None


def test_later_failures_wait_longer(connection, monkeypatch, task_queue):
    failing_generator(monkeypatch)

    with pytest.raises(RuntimeError):
        run_sync(connection.id, 2)

    connection.refresh_from_db()
    assert connection.sync_error.endswith("Retrying in 5 minutes.")
    assert connection.sync_attempt == 2
    [retry] = task_queue.results
    assert retry.args == [str(connection.id), 3]


def test_a_sync_out_of_retries_is_not_queued_again(
    connection, monkeypatch, task_queue
):
    failing_generator(monkeypatch)

    with pytest.raises(RuntimeError):
        run_sync(connection.id, 4)

    connection.refresh_from_db()
    assert connection.sync_status == SyncStatus.FAILED
    assert connection.sync_error == (
        "Sync failed: Sandbox platform timed out. Gave up after 4 attempts."
    )
    assert connection.sync_attempt == 4
    assert task_queue.results == []


def test_a_long_error_is_cut_to_one_short_line(connection, monkeypatch, task_queue):
    failing_generator(monkeypatch, message="x" * 500 + "\nsecond line")

    with pytest.raises(RuntimeError):
        run_sync(connection.id, 1)

    connection.refresh_from_db()
    assert len(connection.sync_error) < 260
    assert "second line" not in connection.sync_error


def test_a_retry_that_succeeds_clears_the_error(connection, monkeypatch, task_queue):
    failing_generator(monkeypatch)
    with pytest.raises(RuntimeError):
        run_sync(connection.id, 1)
    monkeypatch.undo()

    run_sync(connection.id, 2)

    connection.refresh_from_db()
    assert connection.sync_status == SyncStatus.SUCCEEDED
    assert connection.sync_error == ""
    assert connection.sync_attempt == 2
    assert books_counts(connection)["invoices"] > 0
    assert len(task_queue.results) == 1


@pytest.mark.skipif(
    db.vendor == "sqlite",
    reason="SQLite's test database is in memory, where writers fail, not queue",
)
@pytest.mark.django_db(transaction=True)
def test_two_syncs_of_one_connection_at_once_both_succeed():
    connection = ConnectionFactory(is_ready=False, sync_status=SyncStatus.QUEUED)
    EntitySync.objects.bulk_create(
        EntitySync(connection=connection, entity=entity) for entity in ENTITIES
    )
    errors = []

    def sync_in_a_worker():
        try:
            run_sync(connection.id)
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=sync_in_a_worker) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    connection.refresh_from_db()
    assert errors == []
    assert connection.sync_status == SyncStatus.SUCCEEDED
    assert entity_counts(connection) == books_counts(connection)
    assert books_counts(connection)["invoices"] == len(ids(Invoice, connection))


@pytest.mark.django_db(transaction=True)
def test_a_connection_deleted_during_its_sync_is_let_go_quietly(
    monkeypatch, task_queue, caplog
):
    connection = ConnectionFactory(is_ready=False, sync_status=SyncStatus.QUEUED)
    real_start = sync._start

    def delete_elsewhere():
        connection_delete(Connection.objects.get(pk=connection.id))
        connections.close_all()

    def start_then_lose_the_connection(connection_, attempt):
        real_start(connection_, attempt)
        dashboard = threading.Thread(target=delete_elsewhere)
        dashboard.start()
        dashboard.join()

    monkeypatch.setattr(sync, "_start", start_then_lose_the_connection)
    with caplog.at_level(logging.INFO, logger="connections.sync"):
        run_sync(connection.id, 1)

    assert "was deleted during its sync" in caplog.text
    assert not Connection.objects.filter(pk=connection.id).exists()
    assert not JournalEntry.objects.exists()
    assert task_queue.results == []


def test_a_deleted_connection_is_skipped_quietly(db, task_queue, caplog):
    missing = uuid.uuid4()

    with caplog.at_level(logging.INFO, logger="connections.sync"):
        run_sync(str(missing), 1)

    assert f"connection {missing} no longer exists" in caplog.text
    assert task_queue.results == []
    assert not JournalEntry.objects.exists()


def test_a_disabled_connection_is_not_synced(connection, task_queue, caplog):
    connection.disabled = True
    connection.save()

    with caplog.at_level(logging.INFO, logger="connections.sync"):
        run_sync(connection.id, 1)

    connection.refresh_from_db()
    assert "is disabled" in caplog.text
    assert connection.sync_status == SyncStatus.QUEUED
    assert connection.last_sync_started_at is None
    assert set(books_counts(connection).values()) == {0}


@pytest.fixture
def immediate_tasks(settings):
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["default", "sync", "webhooks"],
        }
    }


def test_the_sync_task_syncs_the_connection(connection, immediate_tasks):
    result = enqueue_sync(connection)

    connection.refresh_from_db()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert connection.sync_status == SyncStatus.SUCCEEDED
    assert books_counts(connection)["journal_entries"] > 0


def test_a_failing_sync_task_is_recorded_as_failed(
    connection, immediate_tasks, monkeypatch, settings
):
    settings.SYNC_RETRY_DELAYS = []
    failing_generator(monkeypatch)

    result = enqueue_sync(connection)

    connection.refresh_from_db()
    assert result.status == TaskResultStatus.FAILED
    assert "RuntimeError" in result.errors[0].traceback
    assert connection.sync_status == SyncStatus.FAILED
    assert connection.sync_error.endswith("Gave up after 1 attempt.")


def test_a_store_name_at_the_column_limit_syncs(sandbox, task_queue):
    name = "N" * 200
    connection, _ = connection_create(sandbox, "QUICKBOOKS", name)

    run_sync(connection.id, 1)

    connection.refresh_from_db()
    assert connection.sync_status == SyncStatus.SUCCEEDED, connection.sync_error
    company = CompanyInfo.objects.get(connection=connection)
    assert company.name == name
    assert len(company.legal_name) <= 200
    assert company.legal_name.endswith((" LLC", " Ltd"))


def test_a_database_error_is_reported_without_its_raw_text(
    connection, monkeypatch, task_queue
):
    raw = "value too long for type character varying(200)"
    monkeypatch.setattr(sync, "generate_books", _raising(DataError(raw)))

    with pytest.raises(DataError):
        run_sync(connection.id, 1)

    connection.refresh_from_db()
    assert raw not in connection.sync_error
    assert connection.sync_error == (
        "Sync failed: the books could not be saved; the server log has"
        " the database's reason. Retrying in 30 seconds."
    )


def _raising(error):
    def generate(connection, **options):
        raise error
        yield

    return generate
