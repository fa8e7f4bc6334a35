"""Queue delivery of webhook messages that are due but have no task.

A task is lost when the worker dies while running it; the message's lease
then runs out and this sweep queues it again. `manage.py serve` runs it at
start-up and every minute.
"""

import time

from django.core.management.base import BaseCommand

from webhooks import delivery


class Command(BaseCommand):
    help = "Queue delivery of due webhook messages (once, or --every N seconds)."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0)

    def handle(self, *args, every, **options):
        while True:
            if delivery.has_due():
                delivery.schedule()
                self.stdout.write("Queued delivery of due webhook messages.")
            if not every:
                return
            time.sleep(every)
