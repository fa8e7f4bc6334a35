"""Business rules for connections; dashboard views and the API both call these."""

import logging
import string
import uuid

from django.db import transaction
from django.db.models import Q

from connections.models import (
    ENTITIES,
    Account,
    Connection,
    ConnectionStatus,
    Customer,
    EntitySync,
    JournalEntry,
    SyncStatus,
    Vendor,
)
from platforms import catalog
from rutterdash import task_queue
from webhooks import events as webhook_events
from webhooks import outbox as webhook_outbox

log = logging.getLogger(__name__)


class ConnectionRequestError(ValueError):
    """A request about a connection that cannot be carried out as asked."""


def new_access_token(environment):
    return f"access-{environment}-{uuid.uuid4()}"


def connection_create(scope, platform_code, store_name=""):
    """Create a sandbox connection that is authorised at once and starts syncing.

    Returns the connection and its access token, which is shown only now.
    """
    platform = catalog.get(platform_code)
    if platform is None:
        raise ConnectionRequestError(f"Unknown platform {platform_code!r}.")

    token = new_access_token(scope.environment)
    connection = scope.stamp(Connection(platform=platform.code))
    name_store(connection, platform, store_name)
    connection.set_access_token(token)

    with transaction.atomic():
        connection.save()
        EntitySync.objects.bulk_create(
            EntitySync(connection=connection, entity=entity) for entity in ENTITIES
        )
        transaction.on_commit(lambda: enqueue_sync(connection))
    log.info(
        "Created %s connection %s for organisation %s",
        platform.code,
        connection.id,
        scope.organisation.pk,
    )
    return connection, token


def name_store(connection, platform, store_name=""):
    """Give a connection its store name (made up when blank) and domain."""
    connection.store_name = store_name or _sandbox_store_name(connection)
    connection.store_domain = _store_domain(connection.store_name, platform)


def enqueue_sync(connection, attempt=1, run_after=None):
    from connections.tasks import sync_connection

    return task_queue.enqueue(
        sync_connection, str(connection.id), attempt, run_after=run_after
    )


# Records written through the API carry platform ids made from their job id.
WRITTEN_PLATFORM_ID_PREFIX = "job_"
RESYNC_WOULD_ERASE_WRITES = (
    "This connection holds records written through the API; a sandbox resync "
    "regenerates the whole book and would erase them, so it is refused."
)


class ResyncRefused(ConnectionRequestError):
    pass


def holds_written_records(connection):
    written = {"connection": connection}
    written["platform_id__startswith"] = WRITTEN_PLATFORM_ID_PREFIX
    return any(
        model.objects.filter(**written).exists()
        for model in (JournalEntry, Account, Customer, Vendor)
    )


def connection_resync(connection):
    """Queue a fresh sync. Running it twice leaves the same books, not duplicates.

    Returns the queued task's result, or None while an open transaction
    defers the enqueue to its commit. Refused (ResyncRefused) when the
    books hold records written through the API, which a resync would erase.
    """
    if holds_written_records(connection):
        raise ResyncRefused(RESYNC_WOULD_ERASE_WRITES)
    Connection.objects.filter(pk=connection.pk).update(
        sync_status=SyncStatus.QUEUED, sync_progress=0, sync_error=""
    )
    connection.refresh_from_db()
    queued = []
    transaction.on_commit(lambda: queued.append(enqueue_sync(connection)))
    log.info("Resync queued for connection %s", connection.id)
    return queued[0] if queued else None


def connection_disable(connection, reason="Disabled from the dashboard"):
    connection.disabled = True
    connection.disabled_reason = reason
    with transaction.atomic():
        connection.save(update_fields=["disabled", "disabled_reason", "updated"])
        _webhook(connection, webhook_events.connection_disabled(connection, reason))
    log.info("Connection %s disabled: %s", connection.id, reason)


def connection_enable(connection):
    connection.disabled = False
    connection.disabled_reason = ""
    connection.save(update_fields=["disabled", "disabled_reason", "updated"])
    log.info("Connection %s enabled", connection.id)
    if connection.sync_status == SyncStatus.QUEUED:
        # The worker skipped the sync queued while this was disabled.
        transaction.on_commit(lambda: enqueue_sync(connection))


def connection_needs_reauth(connection, reason):
    """Flag a connection whose platform no longer honours its sign-in."""
    connection.needs_reauth = True
    connection.needs_reauth_reason = reason[:200]
    with transaction.atomic():
        connection.save(
            update_fields=["needs_reauth", "needs_reauth_reason", "updated"]
        )
        _webhook(connection, webhook_events.connection_needs_update(connection))
    log.info("Connection %s needs re-authorisation: %s", connection.id, reason)


class ConnectionGone(Exception):
    """The connection was deleted while this waited for its row lock."""


def lock_books(connection, *, for_delete=False):
    """Lock the connection's row before writing its books; call in a transaction.

    Everything that inserts or deletes a connection's books (API writes, a
    sync, a delete) takes this row lock first, so they queue one behind
    the other, and only then touches accounts or journal lines, whose
    triggers lock the connection's books-version row: every transaction
    takes the two in the same order, so none deadlocks. Writers take FOR NO
    KEY UPDATE, which still lets other transactions insert rows that merely
    point at the connection (request log, webhook events); a delete takes
    FOR UPDATE (``for_delete``), which waits for every writer and makes the
    writers that come after it wait until it commits. They then find the
    row gone: ConnectionGone.
    """
    rows = Connection.objects.filter(pk=connection.pk)
    rows = rows.select_for_update(no_key=not for_delete)
    if not list(rows.values_list("pk", flat=True)):
        raise ConnectionGone(f"Connection {connection.pk} no longer exists.")


def connection_delete(connection):
    """Delete a connection with its books; False if it was already gone.

    The connection's row is locked first (see lock_books), so no write can
    add books rows while they are deleted. The books go first, children
    before parents, because accounts and parties are protected from
    cascading deletes while lines point at them.
    """
    from connections.sync import delete_books  # sync imports this module

    connection_id = connection.id
    with transaction.atomic():
        try:
            lock_books(connection, for_delete=True)
        except ConnectionGone:
            log.info("Connection %s was already deleted", connection_id)
            return False
        delete_books(connection)
        connection.delete()
    log.info("Connection %s deleted", connection_id)
    return True


def connection_by_token(scope, token):
    """The connection this access token opens, or None (whatever the reason)."""
    if not token:
        return None
    return scope.all(Connection).with_access_token(token).first()


# Shorter hex strings would match ids by accident while someone types a name.
MIN_ID_PREFIX = 8


def connection_search(connections, text):
    """Narrow connections to those whose platform, store name, id or token match.

    The id matches in full or by a prefix of at least MIN_ID_PREFIX hex digits;
    the access token only in full, through its keyed hash.
    """
    text = text.strip()
    if not text:
        return connections

    codes = [platform.code for platform in catalog.search(text)]
    matches = Q(platform__in=codes) | Q(store_name__icontains=text)
    id_range = _id_prefix_range(text)
    if id_range:
        matches |= Q(id__range=id_range)
    return connections.filter(matches) | connections.with_access_token(text)


def connection_counts(connections):
    """How many connections there are in all and in each status."""
    counts = {
        status.value: connections.with_status(status).count()
        for status in ConnectionStatus
    }
    counts["all"] = connections.count()
    return counts


def _id_prefix_range(text):
    # A range on the uuid is a prefix match that works on PostgreSQL's uuid
    # type and on SQLite's hex text alike, and it can use the primary key.
    hexits = text.lower().replace("-", "")
    if not MIN_ID_PREFIX <= len(hexits) <= 32:
        return None
    if not set(hexits) <= set(string.hexdigits):
        return None
    lowest = uuid.UUID(hexits.ljust(32, "0"))
    highest = uuid.UUID(hexits.ljust(32, "f"))
    return lowest, highest


_STORE_NAMES = (
    "Juniper Coffee Roasters",
    "Harbour Lane Bikes",
    "Northwind Ceramics",
    "Bluebell Bakery",
    "Atlas Outdoor Supply",
    "Copper Kettle Catering",
    "Meridian Print Studio",
    "Oakridge Garden Centre",
)


def _sandbox_store_name(connection):
    return _STORE_NAMES[connection.id.int % len(_STORE_NAMES)]


def _store_domain(store_name, platform):
    slug = "".join(ch for ch in store_name.lower() if ch.isalnum())[:40] or "store"
    return f"{slug}.{platform.domain}"


def _webhook(connection, payload):
    """Record a webhook event in the transaction of the change it reports."""
    webhook_outbox.record_for_connection(connection, payload)
