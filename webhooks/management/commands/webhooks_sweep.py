"""Queue delivery of webhook messages that are due but have no task, and prune.

A task is lost when the worker dies while running it; the message's lease
then runs out and this sweep queues it again. Each run also deletes a
batch of settled history older than WEBHOOK_RETENTION_DAYS
(webhooks.retention). `manage.py serve` runs it at start-up and every
minute.
"""

import time

from django.core.management.base import BaseCommand

from webhooks import delivery, retention


class Command(BaseCommand):
    help = (
        "Queue delivery of due webhook messages and prune old ones "
        "(once, or --every N seconds)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0)

    def handle(self, *args, every, **options):
        while True:
            if delivery.has_due():
                delivery.schedule()
                self.stdout.write("Queued delivery of due webhook messages.")
            pruned = retention.prune()
            if pruned:
                self.stdout.write(f"Pruned {pruned} old webhook events.")
            if not every:
                return
            time.sleep(every)
