"""Serve the dashboard and run the background workers together.

gunicorn, two task workers (syncs and the rest; webhook deliveries) and the
webhooks sweep run in the foreground as child processes. A worker or sweep
that dies is started again after a pause that doubles while it keeps dying
quickly; gunicorn dying stops everything with a non-zero exit, for a process
manager to restart. Ctrl-C (or SIGTERM) stops them all.
"""

import logging
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

logger = logging.getLogger(__name__)

FIRST_RESTART_WAIT = 1
LONGEST_RESTART_WAIT = 30
# A child that ran this long before dying was not crash-looping: its next
# restart waits FIRST_RESTART_WAIT again.
STEADY_SECONDS = 60
POLL_SECONDS = 0.5
# Seconds the worker may take, after Ctrl-C, to finish the task it is running
# (a webhook delivery waits up to a request deadline for slow receivers).
WORKER_STOP_GRACE = 30
WORKERS = ("db_worker", "webhooks_worker")
# gunicorn's default logs the query string and the referrer, which carry
# access tokens (API calls, a search for a connection by its token): the
# path alone, as sent (rutterdash.access_log), and the time taken in ms.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
# Seconds any child may take to exit after SIGTERM before it is killed.
STOP_WAIT = 15


def _interrupt(signum, frame):
    raise KeyboardInterrupt


# Exit codes of a child that stopped because it was told to.
_ASKED_TO_STOP = (0, -signal.SIGINT, -signal.SIGTERM)


def _described(code):
    """An exit code as Popen gives it, with the signal's name if one ended it."""
    if code >= 0:
        return str(code)
    try:
        return f"{code} ({signal.Signals(-code).name})"
    except ValueError:
        return str(code)


class Child:
    """One child process; one that may be restarted keeps its next wait."""

    def __init__(self, name, command, own_group=False):
        self.name = name
        self.command = command
        self.own_group = own_group
        self.process = None
        self.started_at = None
        self.restart_at = None
        self.stopped_seen_at = None
        self.wait = FIRST_RESTART_WAIT

    def start(self):
        self.process = subprocess.Popen(
            self.command,
            cwd=settings.BASE_DIR,
            process_group=0 if self.own_group else None,
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        self.stopped_seen_at = None

    def exit_code(self):
        """The exit code once the process has ended; None while it runs."""
        return self.process.poll()

    def running(self):
        return self.process is not None and self.process.poll() is None

    def next_wait(self, now):
        """Seconds to wait before a restart: 1, 2, 4 … 30, or 1 after a steady run."""
        if now - self.started_at >= STEADY_SECONDS:
            self.wait = FIRST_RESTART_WAIT
        wait = self.wait
        self.wait = min(self.wait * 2, LONGEST_RESTART_WAIT)
        return wait


class Command(BaseCommand):
    help = (
        "Run gunicorn, the task worker and the webhooks sweep together in the "
        "foreground, restarting the worker and the sweep if they die."
    )

    def add_arguments(self, parser):
        default_port = int(os.environ.get("PORT", 8000))
        parser.add_argument("--port", type=int, default=default_port)
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *args, **options):
        signal.signal(signal.SIGTERM, _interrupt)
        web = Child("gunicorn", self._web_command(options))
        restartable = [
            # Out of the terminal's process group: Ctrl-C reaches serve, which
            # then tells the worker once (see _stop).
            Child("db_worker", self._worker_command("default,sync"), own_group=True),
            # Webhooks have a worker of their own: a delivery waiting on a
            # slow receiver never holds a sync back, nor a sync a delivery.
            Child(
                "webhooks_worker", self._worker_command("webhooks"), own_group=True
            ),
            Child("webhooks_sweep", self._webhook_sweep_command()),
        ]
        children = [web, *restartable]
        for child in children:
            child.start()
        self.stdout.write(
            f"Dashboard on http://{options['host']}:{options['port']}/ "
            "(Ctrl-C stops the server and the worker)"
        )
        try:
            self._supervise(web, restartable)
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            self._stop(children)

    def _web_command(self, options):
        return [
            sys.executable, "-m", "gunicorn", "rutterdash.wsgi",
            "--bind", f"{options['host']}:{options['port']}",
            "--workers", str(options["workers"]),
            "--access-logfile", "-",
            "--access-logformat", ACCESS_LOG_FORMAT,
            "--logger-class", "rutterdash.access_log.PathOnlyLogger",
            "--timeout", "120",
        ]

    def _worker_command(self, queues):
        return [
            sys.executable, str(settings.BASE_DIR / "manage.py"), "db_worker",
            "--queue-name", queues, "--no-reload", "--interval", "0.5",
        ]

    def _webhook_sweep_command(self):
        # Re-queues webhook deliveries whose task died with a worker.
        return [
            sys.executable, str(settings.BASE_DIR / "manage.py"), "webhooks_sweep",
            "--every", "60",
        ]

    def _supervise(self, web, restartable):
        """Watch the children until gunicorn ends, restarting the others."""
        while True:
            code = web.exit_code()
            if code == 0:
                # A clean stop: Ctrl-C reached gunicorn (the whole process
                # group gets it) a moment before this process saw it.
                self.stdout.write("gunicorn stopped; stopping the other children.")
                return
            if code is not None:
                raise CommandError(
                    f"gunicorn exited with {_described(code)}; "
                    "stopping the worker and the sweep."
                )
            now = time.monotonic()
            for child in restartable:
                self._tend(child, now)
            time.sleep(POLL_SECONDS)

    def _tend(self, child, now):
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.start()
                logger.info("Restarted %s (pid %s).", child.name, child.process.pid)
            return

        code = child.exit_code()
        if code is None:
            return
        if code in _ASKED_TO_STOP and child.stopped_seen_at is None:
            # Ctrl-C reaches the whole process group: give this process's
            # own interrupt a poll to arrive before calling it a crash.
            child.stopped_seen_at = now
            return

        wait = child.next_wait(now)
        child.restart_at = now + wait
        described = _described(code)
        logger.warning(
            "%s exited with %s; restarting in %s s", child.name, described, wait
        )

    def _stop(self, children):
        """Stop every child, letting the worker finish the task it is running.

        db_worker finishes its task on its first stop signal and abandons it
        on a second, so it gets one SIGTERM and WORKER_STOP_GRACE to finish;
        the others get SIGTERM once the worker is done.
        """
        running = [child for child in children if child.running()]
        workers = [child for child in running if child.name in WORKERS]
        for child in workers:
            child.process.send_signal(signal.SIGTERM)
        self._let_finish(workers)
        for child in running:
            if child.running():
                child.process.send_signal(signal.SIGTERM)
        for child in running:
            try:
                child.process.wait(timeout=STOP_WAIT)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "%s did not stop within %s s; killing it", child.name, STOP_WAIT
                )
                child.process.kill()

    def _let_finish(self, workers):
        give_up_at = time.monotonic() + WORKER_STOP_GRACE
        for child in workers:
            try:
                if not _exited_within(child, 0.5):
                    self.stdout.write(
                        f"Waiting up to {WORKER_STOP_GRACE} s for the worker to "
                        "finish its task (Ctrl-C again abandons it)…"
                    )
                    _exited_within(child, give_up_at - time.monotonic())
            except KeyboardInterrupt:
                logger.warning("Abandoning the worker's task: asked twice to stop")
                return
            if child.running():
                logger.warning(
                    "The worker is still running its task after %s s; abandoning it",
                    WORKER_STOP_GRACE,
                )


def _exited_within(child, seconds):
    try:
        child.process.wait(timeout=max(0, seconds))
    except subprocess.TimeoutExpired:
        return False
    return True
