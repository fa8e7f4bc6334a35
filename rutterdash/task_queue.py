"""Queueing background tasks so they run in the order they fall due.

django-tasks-db runs ready tasks by priority, then ``run_after``, and gives a
task queued without one the latest possible date. A task queued "now" would
therefore wait behind every due task queued for a time, and a steady stream
of those (webhook retries and wake-ups, sync retries) starved it: syncs
queued for twenty minutes behind wake-up tasks. Queued through here, every
task carries its due time, so the queue is first due, first run.
"""

from django.utils import timezone


def enqueue(task, *args, run_after=None, **kwargs):
    """Queue `task` due at `run_after` (now when None); returns its result."""
    if run_after is None and task.get_backend().supports_defer:
        run_after = timezone.now()
    if run_after is not None:
        task = task.using(run_after=run_after)
    return task.enqueue(*args, **kwargs)
