"""manage.py serve: a dead worker or sweep is restarted; a dead gunicorn ends serve.

The end-to-end tests run the real command (gunicorn, two db_workers and the
webhooks sweep) as child processes against the test database, so they
need one the children can reach: PostgreSQL, not SQLite's in-memory one.
"""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django_tasks_db.models import DBTaskResult

from rutterdash.environments import Environment
from rutterdash.management.commands import serve
from rutterdash.scoping import Scope
from tests.webhook_receiver import Answer, Receiver
from tests.webhooks_delivery_support import (
    client_secret,
    make_destination,
    record_event,
)
from webhooks.models import Message, MessageStatus

# Each child by a word of its command line: the workers by their queues.
CHILDREN = ("gunicorn", "default,sync", "webhooks", "webhooks_sweep")


class Serving:
    """A running `manage.py serve` and what it has written."""

    def __init__(self, process, port, log_path):
        self.process = process
        self.port = port
        self.log_path = log_path

    def log(self):
        return self.log_path.read_text(errors="replace")

    def children(self):
        """Child pids by the command they run (see CHILDREN)."""
        pid = self.process.pid
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        found = {}
        for child in listed:
            name = _command_name(int(child))
            if name:
                found[name] = int(child)
        return found

    def child(self, name):
        return wait_until(lambda: self.children().get(name), f"{name} to start")

    def status_of(self, path):
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            client.request("GET", path)
            return client.getresponse().status
        finally:
            client.close()

    def wait_until_answering(self):
        def answers():
            try:
                return self.status_of("/accounts/login/")
            except OSError:
                return None

        return wait_until(answers, "gunicorn to answer")


def _command_name(pid):
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return None
    for name in CHILDREN:
        if name.encode() in words:
            return name
    return None


def wait_until(check, what, timeout=60):
    give_up_at = time.monotonic() + timeout
    while time.monotonic() < give_up_at:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"Gave up waiting for {what}")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def database_url():
    database = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("serve's children need a database they can share: PostgreSQL")
    user = quote(database["USER"] or "", safe="")
    password = quote(database["PASSWORD"] or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    address = f"{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
    return f"postgres://{credentials}{address}/{database['NAME']}"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def serving(db, tmp_path):
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": database_url()}
    log_path = tmp_path / "serve.log"
    command = [
        sys.executable,
        "manage.py",
        "serve",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, for a Ctrl-C to reach
        )
    running = Serving(process, port, log_path)
    try:
        yield running
    finally:
        _stop(process)


def _stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.parametrize(
    ("name", "logged_as"),
    [
        ("default,sync", "db_worker"),
        ("webhooks", "webhooks_worker"),
        ("webhooks_sweep", "webhooks_sweep"),
    ],
)
def test_a_killed_child_is_restarted_while_the_dashboard_keeps_serving(
    serving, name, logged_as
):
    serving.wait_until_answering()
    killed = serving.child(name)

    os.kill(killed, signal.SIGKILL)

    restarted = wait_until(
        lambda: serving.children().get(name) not in (None, killed),
        f"{name} to be restarted",
    )
    assert restarted
    assert f"{logged_as} exited with -9 (SIGKILL); restarting in 1 s" in serving.log()
    assert serving.status_of("/accounts/login/") == 200
    assert serving.process.poll() is None


def test_the_access_log_leaves_out_query_strings_and_referrers(serving):
    serving.wait_until_answering()
    client = http.client.HTTPConnection("127.0.0.1", serving.port, timeout=10)
    client.request(
        "GET",
        "/versioned/connections?access_token=tok-secret-in-query",
        headers={"Referer": "http://127.0.0.1/connections/?q=tok-secret-in-referrer"},
    )
    client.getresponse().read()
    client.close()

    log = wait_until(
        lambda: "GET /versioned/connections HTTP" in serving.log() and serving.log(),
        "the access log line",
    )
    assert "tok-secret" not in log


def test_an_encoded_new_line_in_a_path_forges_no_access_log_line(serving):
    serving.wait_until_answering()
    forged = "%0A127.0.0.1%20FORGED%20LINE%1B[31m"

    serving.status_of(f"/versioned/x{forged}y")

    sent = f"GET /versioned/x{forged}y HTTP/1.1"
    log = wait_until(lambda: sent in serving.log() and serving.log(), "the access line")
    assert not [line for line in log.splitlines() if line.startswith("127.0.0.1 F")]
    assert chr(27) not in log  # no raw terminal escape


def sigterm_to_serve(process):
    process.send_signal(signal.SIGTERM)


def ctrl_c_in_its_terminal(process):
    os.killpg(process.pid, signal.SIGINT)


@pytest.mark.parametrize("stop", [sigterm_to_serve, ctrl_c_in_its_terminal])
def test_a_stop_signal_ends_serve_and_every_child(serving, stop):
    serving.wait_until_answering()
    children = {name: serving.child(name) for name in CHILDREN}

    stop(serving.process)

    assert serving.process.wait(timeout=30) == 0
    assert [name for name, pid in children.items() if alive(pid)] == []
    assert "restarting" not in serving.log()


def test_ctrl_c_lets_the_worker_finish_a_delivery_in_flight(
    serving, transactional_db, organisation
):
    # A second stop signal makes the worker abandon its task: the message
    # stayed leased and the task was recorded as failed.
    scope = Scope(organisation, Environment.SANDBOX)
    client_secret(scope)
    serving.wait_until_answering()
    serving.child("webhooks")
    with Receiver() as slow:
        slow.will(Answer(200, delay=3))
        make_destination(scope, slow.url)
        record_event(scope)  # queues a delivery task the worker runs
        wait_until(lambda: slow.requests, "the worker's request to arrive", timeout=30)

        ctrl_c_in_its_terminal(serving.process)

        assert serving.process.wait(timeout=30) == 0
    message = Message.objects.get()
    assert message.status == MessageStatus.SUCCEEDED
    assert message.lease_until is None
    tasks = DBTaskResult.objects.filter(task_path="webhooks.tasks.deliver_due")
    sending = tasks.order_by("enqueued_at").first()
    assert sending.status == "SUCCESSFUL"
    assert not tasks.filter(status="FAILED").exists()
    assert "finish its task" in serving.log()


def test_serve_exits_non_zero_when_gunicorn_dies(serving):
    serving.wait_until_answering()
    children = {name: serving.child(name) for name in CHILDREN}

    os.kill(children["gunicorn"], signal.SIGKILL)

    assert serving.process.wait(timeout=30) == 1
    assert "gunicorn exited with -9 (SIGKILL)" in serving.log()
    assert not alive(children["default,sync"])
    assert not alive(children["webhooks"])
    assert not alive(children["webhooks_sweep"])


def test_gunicorn_stopping_cleanly_stops_serve_cleanly(serving):
    # What Ctrl-C does when gunicorn gets it a moment before serve does.
    serving.wait_until_answering()
    children = {name: serving.child(name) for name in CHILDREN}

    os.kill(children["gunicorn"], signal.SIGTERM)

    assert serving.process.wait(timeout=30) == 0
    assert "gunicorn stopped" in serving.log()
    assert "restarting" not in serving.log()
    assert [name for name, pid in children.items() if alive(pid)] == []


# The restart pause.


def test_the_restart_pause_doubles_up_to_30_seconds_while_a_child_keeps_dying():
    child = serve.Child("db_worker", [])
    child.started_at = 0

    waits = [child.next_wait(now=2) for _ in range(7)]

    assert waits == [1, 2, 4, 8, 16, 30, 30]


def test_the_restart_pause_starts_over_after_a_steady_run():
    child = serve.Child("db_worker", [])
    child.started_at = 0
    for _ in range(4):
        child.next_wait(now=2)
    child.started_at = 100

    assert child.next_wait(now=100 + serve.STEADY_SECONDS) == 1
