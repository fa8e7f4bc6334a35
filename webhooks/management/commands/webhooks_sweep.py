"""Queue delivery of webhook messages that are due but have no task, and prune.

A task is lost when the worker dies while running it; the message's lease
then runs out and this sweep queues it again. Each run also deletes a
batch of settled history older than WEBHOOK_RETENTION_DAYS, and once an
hour finished task rows older than TASK_RESULT_RETENTION_DAYS
(webhooks.retention). `manage.py serve` runs it at start-up and every
minute.
"""

import time

from django.core.management.base import BaseCommand

from webhooks import delivery, retention

TASK_PRUNE_EVERY = 3600


class Command(BaseCommand):
    help = (
        "Queue delivery of due webhook messages and prune old ones "
        "(once, or --every N seconds)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0)

    def handle(self, *args, every, **options):
        tasks_pruned_at = None
        while True:
            if delivery.has_due():
                delivery.schedule()
                self.stdout.write("Queued delivery of due webhook messages.")
            pruned = retention.prune()
            if pruned:
                self.stdout.write(f"Pruned {pruned} old webhook events.")
            now = time.monotonic()
            if tasks_pruned_at is None or now - tasks_pruned_at >= TASK_PRUNE_EVERY:
                retention.prune_task_results()
                tasks_pruned_at = now
            if not every:
                return
            time.sleep(every)
