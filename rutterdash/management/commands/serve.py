"""Serve the dashboard and run the background worker together.

Both run in the foreground as child processes; Ctrl-C (or SIGTERM) stops
both, and if either dies the other is stopped too, so a half-running
installation never goes unnoticed.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run gunicorn and the task worker together in the foreground."

    def add_arguments(self, parser):
        default_port = int(os.environ.get("PORT", 8000))
        parser.add_argument("--port", type=int, default=default_port)
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *args, **options):
        signal.signal(signal.SIGTERM, _interrupt)
        children = [
            self._start(self._web_command(options)),
            self._start(self._worker_command()),
            self._start(self._webhook_sweep_command()),
        ]
        self.stdout.write(
            f"Dashboard on http://{options['host']}:{options['port']}/ "
            "(Ctrl-C stops the server and the worker)"
        )
        try:
            self._wait_for_first_exit(children)
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
            "--timeout", "120",
        ]

    def _worker_command(self):
        return [
            sys.executable, str(settings.BASE_DIR / "manage.py"), "db_worker",
            "--queue-name", "*", "--no-reload", "--interval", "0.5",
        ]

    def _webhook_sweep_command(self):
        # Re-queues webhook deliveries whose task died with a worker.
        return [
            sys.executable, str(settings.BASE_DIR / "manage.py"), "webhooks_sweep",
            "--every", "60",
        ]

    def _start(self, command):
        return subprocess.Popen(command, cwd=settings.BASE_DIR)

    def _wait_for_first_exit(self, children):
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = [child for child in children if child.returncode]
        if failed:
            self.stderr.write(f"{failed[0].args[2]} exited with {failed[0].returncode}")

    def _stop(self, children):
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
