"""Old webhook history is deleted once it has served its purpose.

An event older than WEBHOOK_RETENTION_DAYS whose messages are all settled
(succeeded or failed for good) goes, with its messages and their attempts.
Finished task rows (the worker's record of each sync and delivery task)
go after TASK_RESULT_RETENTION_DAYS.
An event with a message still pending or retrying stays until that settles,
however old: a resend or replay of it is never lost. The sweep
(`manage.py webhooks_sweep`) prunes a bounded batch each time it runs.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django_tasks import task_backends
from django_tasks_db.backend import DatabaseBackend

from webhooks.models import Attempt, Event, Message, MessageStatus

log = logging.getLogger(__name__)

OPEN = (MessageStatus.PENDING, MessageStatus.RETRYING)
PRUNE_BATCH = 5000


def prune(now=None, batch=PRUNE_BATCH):
    """Delete up to `batch` expired events with their history; returns how many."""
    days = settings.WEBHOOK_RETENTION_DAYS
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    candidates = (
        Event.objects.filter(created__lt=cutoff)
        .exclude(messages__status__in=OPEN)
        .order_by("created")
        .values_list("pk", flat=True)[:batch]
    )
    with transaction.atomic():
        expired = set(candidates)
        # Locked, then checked again: a resend may have reopened one meanwhile.
        messages = Message.objects.select_for_update().filter(event_id__in=expired)
        reopened = {
            m.event_id for m in messages.only("event_id", "status") if m.status in OPEN
        }
        expired -= reopened
        if not expired:
            return 0
        attempts = Attempt.objects.filter(message__event_id__in=expired)
        attempts._raw_delete(attempts.db)
        doomed = Message.objects.filter(event_id__in=expired)
        doomed._raw_delete(doomed.db)
        events = Event.objects.filter(pk__in=expired)
        events._raw_delete(events.db)
    log.info("Pruned %d webhook events older than %d days", len(expired), days)
    return len(expired)


def prune_task_results():
    """Delete finished task rows older than TASK_RESULT_RETENTION_DAYS."""
    days = settings.TASK_RESULT_RETENTION_DAYS
    if not days or not isinstance(task_backends["default"], DatabaseBackend):
        return
    call_command(
        "prune_db_task_results", queue_name="*", min_age_days=days, verbosity=0
    )
