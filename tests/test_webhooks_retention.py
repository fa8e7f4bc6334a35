"""Old, settled webhook history is pruned; anything still open is kept."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tests.webhooks_page_support import (  # noqa: F401 (autouse fixture)
    attempt_on,
    destination_in,
    event_in,
    message_to,
    safe_addresses,
)
from webhooks import retention
from webhooks.models import Attempt, Event, Message, MessageStatus


@pytest.fixture
def destination(sandbox):
    return destination_in(sandbox)


def aged(event, days):
    Event.objects.filter(pk=event.pk).update(
        created=timezone.now() - timedelta(days=days)
    )
    return event


def settled_event(sandbox, destination, days, status=MessageStatus.SUCCEEDED):
    event = aged(event_in(sandbox), days)
    message = message_to(destination, event, status=status)
    attempt_on(message, 200 if status == MessageStatus.SUCCEEDED else 500)
    return event


def test_settled_events_past_retention_go_with_messages_and_attempts(
    sandbox, destination, settings
):
    settings.WEBHOOK_RETENTION_DAYS = 30
    old_success = settled_event(sandbox, destination, days=31)
    old_failure = settled_event(sandbox, destination, days=45, status="failed")
    recent = settled_event(sandbox, destination, days=29)

    assert retention.prune() == 2

    assert list(Event.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not Message.objects.filter(event__in=[old_success, old_failure]).exists()
    assert Attempt.objects.count() == 1


@pytest.mark.parametrize("status", [MessageStatus.PENDING, MessageStatus.RETRYING])
def test_an_old_event_with_a_message_still_open_is_kept(
    sandbox, destination, settings, status
):
    settings.WEBHOOK_RETENTION_DAYS = 30
    event = aged(event_in(sandbox), days=90)
    message_to(destination, event, status=MessageStatus.SUCCEEDED)
    other = destination_in(sandbox, url="https://other.example.com/hook")
    message_to(other, event, status=status)

    assert retention.prune() == 0

    assert Event.objects.filter(pk=event.pk).exists()
    assert Message.objects.filter(event=event).count() == 2


def test_zero_days_keeps_everything(sandbox, destination, settings):
    settings.WEBHOOK_RETENTION_DAYS = 0
    settled_event(sandbox, destination, days=4000)

    assert retention.prune() == 0
    assert Event.objects.count() == 1


def test_a_run_prunes_at_most_a_batch_oldest_first(sandbox, destination, settings):
    settings.WEBHOOK_RETENTION_DAYS = 30
    oldest = [settled_event(sandbox, destination, days=60 - n) for n in range(3)]

    assert retention.prune(batch=2) == 2

    assert list(Event.objects.values_list("pk", flat=True)) == [oldest[2].pk]


def test_the_sweep_prunes(sandbox, destination, settings, task_queue):
    settings.WEBHOOK_RETENTION_DAYS = 30
    settled_event(sandbox, destination, days=31)

    call_command("webhooks_sweep")

    assert Event.objects.count() == 0


def task_row(status, finished_days_ago=None):
    finished = timezone.now() - timedelta(days=finished_days_ago or 0)
    return DBTaskResult.objects.create(
        status=status,
        finished_at=finished if finished_days_ago is not None else None,
        args_kwargs={"args": [], "kwargs": {}},
        task_path="webhooks.tasks.deliver_due",
        queue_name="default",
        backend_name="default",
        run_after=timezone.now(),
    )


def test_the_sweep_deletes_finished_task_rows_past_their_retention(db, settings):
    settings.TASK_RESULT_RETENTION_DAYS = 7
    old = task_row("SUCCESSFUL", finished_days_ago=8)
    old_failure = task_row("FAILED", finished_days_ago=8)
    recent = task_row("SUCCESSFUL", finished_days_ago=6)
    waiting = task_row("READY")

    call_command("webhooks_sweep")

    kept = set(DBTaskResult.objects.values_list("pk", flat=True))
    assert kept == {recent.pk, waiting.pk}
    assert old.pk not in kept and old_failure.pk not in kept


def test_zero_task_retention_keeps_every_task_row(db, settings):
    settings.TASK_RESULT_RETENTION_DAYS = 0
    task_row("SUCCESSFUL", finished_days_ago=400)

    retention.prune_task_results()

    assert DBTaskResult.objects.count() == 1
