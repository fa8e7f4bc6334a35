"""Business rules for connections; dashboard views and the API both call these."""

import logging
import uuid

from django.db import transaction

from connections.models import ENTITIES, Connection, EntitySync, SyncStatus
from platforms import catalog

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
    connection.store_name = store_name or _sandbox_store_name(connection)
    connection.store_domain = _store_domain(connection.store_name, platform)
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


def enqueue_sync(connection, attempt=1, run_after=None):
    from connections.tasks import sync_connection

    task = sync_connection.using(run_after=run_after) if run_after else sync_connection
    return task.enqueue(str(connection.id), attempt)


def connection_resync(connection):
    """Queue a fresh sync. Running it twice leaves the same books, not duplicates."""
    Connection.objects.filter(pk=connection.pk).update(
        sync_status=SyncStatus.QUEUED, sync_progress=0, sync_error=""
    )
    connection.refresh_from_db()
    transaction.on_commit(lambda: enqueue_sync(connection))
    log.info("Resync queued for connection %s", connection.id)


def connection_disable(connection, reason="Disabled from the dashboard"):
    connection.disabled = True
    connection.disabled_reason = reason
    connection.save(update_fields=["disabled", "disabled_reason", "updated"])
    log.info("Connection %s disabled: %s", connection.id, reason)


def connection_enable(connection):
    connection.disabled = False
    connection.disabled_reason = ""
    connection.save(update_fields=["disabled", "disabled_reason", "updated"])
    log.info("Connection %s enabled", connection.id)


def connection_delete(connection):
    connection_id = connection.id
    connection.delete()
    log.info("Connection %s deleted", connection_id)


def connection_by_token(scope, token):
    """The connection this access token opens, or None (whatever the reason)."""
    if not token:
        return None
    return scope.all(Connection).with_access_token(token).first()


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
