"""Fill a connection's books from its platform, all in one transaction.

A sync replaces the connection's previous books wholesale, so running it
twice leaves the same rows with the same ids. While it runs, its rows are
invisible to every other transaction, so the worker publishes its progress
in the shared cache, where `sync_progress` reads it.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.db import connection as db
from django.utils import timezone

from connections.models import (
    ENTITIES,
    Account,
    Bill,
    BillLine,
    BillPayment,
    CompanyInfo,
    Connection,
    Customer,
    EntitySync,
    Expense,
    ExpenseLine,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    JournalEntry,
    JournalLine,
    SyncStatus,
    Vendor,
)
from connections.services import ConnectionGone, enqueue_sync, lock_books
from platforms.sandbox.generator import generate_books
from webhooks.book_events import SyncChanges

log = logging.getLogger(__name__)

BATCH_SIZE = 2000
PROGRESS_SECONDS = 24 * 60 * 60
# Counts go to the cache at most this often, besides each new percent.
PUBLISH_EVERY = 0.5
REASON_LENGTH = 200

# The model whose rows each entity counts (lines belong to their document).
ENTITY_MODELS = {
    "company_info": CompanyInfo,
    "accounts": Account,
    "customers": Customer,
    "vendors": Vendor,
    "invoices": Invoice,
    "bills": Bill,
    "invoice_payments": InvoicePayment,
    "bill_payments": BillPayment,
    "expenses": Expense,
    "journal_entries": JournalEntry,
}
MODEL_ENTITIES = {model: entity for entity, model in ENTITY_MODELS.items()}

# Children before parents, so no delete leaves a dangling foreign key.
DELETE_ORDER = (
    JournalLine,
    JournalEntry,
    ExpenseLine,
    Expense,
    InvoicePayment,
    BillPayment,
    InvoiceLine,
    Invoice,
    BillLine,
    Bill,
    Customer,
    Vendor,
    Account,
    CompanyInfo,
)
LINE_PARENTS = {InvoiceLine: "invoice", BillLine: "bill", ExpenseLine: "expense"}


def run_sync(connection_id, attempt=1):
    """Sync a connection's books; on failure record why and schedule a retry."""
    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is None:
        log.info("Sync skipped: connection %s no longer exists", connection_id)
        return
    if connection.disabled:
        log.info("Sync skipped: connection %s is disabled", connection_id)
        return

    _start(connection, attempt)
    try:
        counts = sync_books(connection)
    except ConnectionGone:
        log.info("Connection %s was deleted during its sync", connection_id)
        return
    except Exception as error:
        if not Connection.objects.filter(pk=connection_id).exists():
            log.info("Connection %s was deleted during its sync", connection_id)
            return
        log.exception(
            "Sync of connection %s failed (attempt %s)", connection_id, attempt
        )
        _fail(connection, attempt, error)
        raise

    log.info(
        "Synced connection %s: %s journal entries",
        connection_id,
        counts["journal_entries"],
    )


def sync_books(connection, *, months=None, scale=None, today=None):
    """Replace the connection's books with freshly generated ones.

    One transaction: either the whole new set is visible, or the old one
    stays. Returns the count of rows per entity.
    """
    progress = _Progress(connection)
    with transaction.atomic():
        # First, as every books writer does: raises ConnectionGone if deleted.
        lock_books(connection)
        _wait_for_other_syncs(connection)
        changes = SyncChanges(connection)
        delete_books(connection)
        books = generate_books(connection, months=months, scale=scale, today=today)
        for batch in books:
            batch.model.objects.bulk_create(batch.rows, batch_size=BATCH_SIZE)
            progress.add(batch)
        _succeed(connection, progress.counts)
        changes.record()  # webhook events, committed with the books
    progress.finish()
    return progress.counts


def progress_key(connection_id):
    return f"sync-progress:{connection_id}"


def sync_progress(connection):
    """How far the connection's sync has got: {"percent": int, "counts": {...}}.

    Live figures from the cache while a sync runs, otherwise what the last
    sync recorded.
    """
    if connection.sync_status == SyncStatus.RUNNING:
        live = cache.get(progress_key(connection.id))
        if live is not None:
            return live

    recorded = dict(connection.entity_syncs.values_list("entity", "count"))
    counts = {entity: recorded.get(entity, 0) for entity in ENTITIES}
    return {"percent": connection.sync_progress, "counts": counts}


class _Progress:
    """Counts rows as they are written and publishes them for other processes."""

    def __init__(self, connection):
        self.key = progress_key(connection.id)
        self.counts = dict.fromkeys(ENTITIES, 0)
        self.percent = 0
        self._publish()

    def add(self, batch):
        entity = MODEL_ENTITIES.get(batch.model)
        if entity:
            self.counts[entity] += len(batch.rows)

        # 100 means committed, which only finish() can say.
        percent = min(99, int(batch.progress * 100))
        stale = time.monotonic() - self._published_at > PUBLISH_EVERY
        if percent != self.percent or stale:
            self.percent = percent
            self._publish()

    def finish(self):
        self.percent = 100
        self._publish()

    def _publish(self):
        live = {"percent": self.percent, "counts": dict(self.counts)}
        cache.set(self.key, live, PROGRESS_SECONDS)
        self._published_at = time.monotonic()


def _start(connection, attempt):
    now = timezone.now()
    cache.delete(progress_key(connection.id))
    Connection.objects.filter(pk=connection.pk).update(
        sync_status=SyncStatus.RUNNING,
        sync_progress=0,
        sync_attempt=attempt,
        last_sync_started_at=now,
        updated=now,
    )
    connection.entity_syncs.update(status=SyncStatus.RUNNING)
    connection.refresh_from_db()


def _wait_for_other_syncs(connection):
    # Two syncs of one connection would insert the same ids; locking its
    # entity rows makes the second wait, then replace what the first wrote.
    # (SQLite needs no lock: its IMMEDIATE transactions already queue.)
    rows = EntitySync.objects.select_for_update().filter(connection=connection)
    list(rows.values_list("pk", flat=True))


def delete_books(connection):
    """Delete all of a connection's books, children before parents."""
    # Raw deletes: the ORM would first load every row to work out cascades,
    # which for hundreds of thousands of journal lines costs seconds.
    connection_id = Connection._meta.pk.get_db_prep_value(connection.id, db)
    with db.cursor() as cursor:
        for model in DELETE_ORDER:
            cursor.execute(_delete_sql(model), [connection_id])


def _delete_sql(model):
    table = db.ops.quote_name(model._meta.db_table)
    if model not in LINE_PARENTS:
        return f"DELETE FROM {table} WHERE connection_id = %s"

    parent_field = model._meta.get_field(LINE_PARENTS[model])
    parent_table = db.ops.quote_name(parent_field.related_model._meta.db_table)
    column = db.ops.quote_name(parent_field.column)
    return (
        f"DELETE FROM {table} WHERE {column} IN "
        f"(SELECT id FROM {parent_table} WHERE connection_id = %s)"
    )


def _succeed(connection, counts):
    now = timezone.now()
    for entity in ENTITIES:
        EntitySync.objects.update_or_create(
            connection=connection,
            entity=entity,
            defaults={
                "status": SyncStatus.SUCCEEDED,
                "count": counts[entity],
                "last_synced_at": now,
            },
        )
    Connection.objects.filter(pk=connection.pk).update(
        is_ready=True,
        sync_status=SyncStatus.SUCCEEDED,
        sync_progress=100,
        sync_error="",
        last_sync_completed_at=now,
        updated=now,
    )


def _fail(connection, attempt, error):
    now = timezone.now()
    delay = _retry_delay(attempt)
    Connection.objects.filter(pk=connection.pk).update(
        sync_status=SyncStatus.FAILED,
        sync_progress=0,
        sync_error=_failure_message(error, attempt, delay),
        sync_attempt=attempt,
        updated=now,
    )
    connection.entity_syncs.update(status=SyncStatus.FAILED)
    cache.delete(progress_key(connection.id))

    if delay is not None:
        run_after = now + timedelta(seconds=delay)
        enqueue_sync(connection, attempt + 1, run_after=run_after)


def _retry_delay(attempt):
    """Seconds until the next try, or None once the retries are used up."""
    delays = settings.SYNC_RETRY_DELAYS
    return delays[attempt - 1] if attempt <= len(delays) else None


def _failure_message(error, attempt, delay):
    if delay is None:
        outcome = f"Gave up after {_counted(attempt, 'attempt')}."
    else:
        outcome = f"Retrying in {_duration(delay)}."
    return f"Sync failed: {_reason(error)}. {outcome}"


def _reason(error):
    """The first line of the error, short enough to show on a page."""
    if isinstance(error, DatabaseError):
        # The database's wording means nothing on the page; the log has it.
        return "the books could not be saved; the server log has the database's reason"
    lines = str(error).strip().splitlines()
    reason = lines[0].rstrip(".") if lines else type(error).__name__
    if len(reason) > REASON_LENGTH:
        reason = reason[: REASON_LENGTH - 1] + "…"
    return reason


def _duration(seconds):
    if seconds < 60:
        return _counted(seconds, "second")
    if seconds < 3600:
        return _counted(seconds // 60, "minute")
    return _counted(seconds // 3600, "hour")


def _counted(number, unit):
    return f"{number} {unit}" if number == 1 else f"{number} {unit}s"
