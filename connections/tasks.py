"""Background work for connections."""

from django_tasks import task


@task(queue_name="sync")
def sync_connection(connection_id, attempt=1):
    from connections.sync import run_sync

    run_sync(connection_id, attempt)
