"""Tasks run first due, first run, whatever their kind (django-tasks-db)."""

from datetime import timedelta

from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from connections.services import enqueue_sync
from tests.factories import ConnectionFactory
from webhooks import delivery

SYNC = "connections.tasks.sync_connection"
DELIVERY = "webhooks.tasks.deliver_due"


def next_to_run():
    """The task path db_worker would pick next."""
    return DBTaskResult.objects.ready().get_locked().task_path


def test_a_sync_queued_now_runs_before_a_wake_up_queued_after_it(db):
    # A task queued without a due time used to go after every due task that
    # had one: webhook wake-ups starved syncs for twenty minutes.
    enqueue_sync(ConnectionFactory())
    delivery.enqueue(run_after=timezone.now())

    assert next_to_run() == SYNC


def test_a_wake_up_due_earlier_still_runs_first(db):
    delivery.enqueue(run_after=timezone.now() - timedelta(seconds=1))
    enqueue_sync(ConnectionFactory())

    assert next_to_run() == DELIVERY


def test_a_wake_up_is_not_queued_when_one_will_start_by_then(db):
    soon = timezone.now() + timedelta(seconds=10)
    delivery.enqueue(run_after=soon)

    delivery.enqueue(run_after=soon + timedelta(seconds=10))
    assert DBTaskResult.objects.count() == 1

    delivery.enqueue(run_after=soon - timedelta(seconds=5))
    assert DBTaskResult.objects.count() == 2
