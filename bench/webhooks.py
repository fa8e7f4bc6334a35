"""Time webhook delivery by one worker process against a bare httpx loop.

Usage, from the project root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rd_bench_webhooks \\
        .venv/bin/python bench/webhooks.py [--messages 5000] [--rounds 3]

DATABASE_URL defaults to the PostgreSQL database rd_bench_webhooks on
127.0.0.1, created and migrated if missing. Each run seeds a fresh
organisation ("Webhook benchmark", earlier ones are deleted) with a sandbox
API key and one destination pointing at a receiver: a separate process
answering 200 to every POST, on the first free port of 8401-8419.

Then, in alternating rounds:

  worker:   one `manage.py db_worker` process, already started and idle;
            the bench records --messages events in one transaction (which
            queues one delivery task) and times from the commit until the
            worker recorded the last batch of outcomes (the destination's
            last_success_at, stamped as a batch is recorded), so the bench's
            own polling for completion does not add to the time. Signing,
            the address check, attempt rows and all database work are
            included.
  worker-1: the same with WEBHOOK_CONCURRENCY=1 (one request at a time).
  bare:     a plain httpx.Client POST loop of the same body to the same
            receiver, one request at a time, nothing recorded.

It prints deliveries per second for each, the ratios to the bare loop
(median over rounds), and the time signing adds per request (the body
serialised and the Standard Webhooks and Rutter signatures computed, with
one destination secret and with two during a rotation overlap).
Target: the worker at least 0.8x the bare loop.
"""

import argparse
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/rd_bench_webhooks"
HOST = "127.0.0.1"
PORTS = range(8401, 8420)
ORGANISATION_NAME = "Webhook benchmark"
RATIO_TARGET = 0.8
SIGNING_ROUNDS = 20_000
SCENARIOS = ("worker", "worker-1", "bare")


def main():
    args = _arguments()
    if args.serve_receiver:
        _serve_receiver(args.serve_receiver)
        return
    _configure_environment()
    harness.create_database(os.environ["DATABASE_URL"])
    harness.setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    port = _free_port()
    with _process(_receiver_command(port)):
        _wait_for_port(port)
        scope, destination = _seed(f"http://{HOST}:{port}/hook")
        rounds = _measure(scope, destination, args)
    _print_results(rounds, _signing_latency(destination))


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve-receiver", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def _configure_environment():
    defaults = {
        "DATABASE_URL": DEFAULT_DATABASE_URL,
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": HOST,
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        # The receiver is on loopback over plain HTTP.
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "WEBHOOK_ALLOW_HTTP": "true",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    os.environ["DJANGO_SETTINGS_MODULE"] = "rutterdash.settings"






# The receiver, in its own process so it does not share the bench's GIL.


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # One write: split writes meet delayed ACKs and cost 40 ms each.
        self.wfile.write(self.answer)

    def log_message(self, *args):
        pass


def _serve_receiver(port):
    server = ThreadingHTTPServer((HOST, port), _Receiver)
    server.daemon_threads = True
    server.serve_forever()


def _receiver_command(port):
    return [sys.executable, __file__, "--serve-receiver", str(port)]


def _free_port():
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) != 0:
                return port
    raise SystemExit(f"No free port in {PORTS.start}-{PORTS.stop - 1}")


def _wait_for_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"Nothing listens on {HOST}:{port}")


@contextmanager
def _process(command, env=None):
    child = subprocess.Popen(command, cwd=harness.ROOT, env=env)
    try:
        yield child
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()


# Seeding and measuring.


def _seed(url):
    from accounts.models import Organisation
    from accounts.services import api_key_create
    from rutterdash.environments import Environment
    from rutterdash.scoping import Scope
    from webhooks import signing
    from webhooks.models import Destination

    Organisation.objects.filter(name=ORGANISATION_NAME).delete()
    organisation = Organisation.objects.create(name=ORGANISATION_NAME)
    api_key_create(organisation, Environment.SANDBOX)
    scope = Scope(organisation, Environment.SANDBOX)
    destination = Destination.objects.create(
        organisation=organisation,
        environment=Environment.SANDBOX,
        url=url,
        secret_encrypted=signing.encrypt(signing.new_secret()),
    )
    return scope, destination


def _measure(scope, destination, args):
    rounds = {name: [] for name in SCENARIOS}
    for number in range(1, args.rounds + 1):
        for name in SCENARIOS:
            rate = _run(name, scope, destination, args.messages)
            rounds[name].append(rate)
            harness.progress(f"round {number} {name}: {rate:,.0f} deliveries/s")
    return rounds


def _run(name, scope, destination, count):
    if name == "bare":
        return _bare_loop(destination.url, count)
    concurrency = "1" if name == "worker-1" else None
    return _worker_round(scope, count, concurrency)


def _worker_round(scope, count, concurrency):
    from webhooks.models import Destination

    env = dict(os.environ)
    if concurrency:
        env["WEBHOOK_CONCURRENCY"] = concurrency
    command = [
        sys.executable, str(harness.ROOT / "manage.py"), "db_worker",
        "--queue-name", "*", "--no-reload", "--interval", "0.05",
    ]
    with _process(command, env):
        time.sleep(3)  # let it start and find the queue empty
        started = _record_events(scope, count)
        _wait_until_delivered(count)
    # The worker stamps the destination when it records a batch of outcomes,
    # so the end is when the last batch was recorded, not when polling saw it.
    finished = Destination.objects.filter(organisation=scope.organisation).values_list(
        "last_success_at", flat=True
    )
    return count / (max(finished) - started).total_seconds()


def _record_events(scope, count):
    """Record `count` events in one transaction; returns the time it committed."""
    from django.db import transaction
    from django.utils import timezone

    from webhooks import outbox
    from webhooks.models import Event

    Event.objects.filter(organisation=scope.organisation).delete()
    with transaction.atomic():
        for _ in range(count):
            outbox.record(scope, "INITIAL_UPDATE", _payload())
    return timezone.now()


def _payload():
    return {
        "type": "CONNECTION",
        "code": "INITIAL_UPDATE",
        "connection_id": "3adc1519-0d6e-4222-83de-25b457cf42be",
        "access_token": "access-sandbox-3adc1519-0d6e-4222-83de-25b457cf42be",
    }


def _wait_until_delivered(count, timeout=600):
    from webhooks.models import Message, MessageStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = Message.objects.filter(status=MessageStatus.SUCCEEDED).count()
        if done >= count:
            return
        time.sleep(0.25)  # polling costs the worker's CPU and database too
    raise SystemExit(f"Only {done} of {count} messages delivered in {timeout} s")


def _bare_loop(url, count):
    import json

    import httpx

    body = json.dumps(_payload(), separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    with httpx.Client() as client:
        started = time.monotonic()
        for _ in range(count):
            client.post(url, content=body, headers=headers).raise_for_status()
        elapsed = time.monotonic() - started
    return count / elapsed


def _signing_latency(destination):
    from datetime import timedelta

    from django.utils import timezone

    from webhooks import events, outbox, signing
    from webhooks.models import Event

    event = Event(id=outbox.new_event_id(), payload=_payload())
    event.payload, event.access_token_encrypted = events.split_secret(_payload())
    client_secret = "sk_sandbox_" + secrets.token_urlsafe(32)
    one = _time_signing(event, destination, client_secret)

    destination.previous_secret_encrypted = signing.encrypt(signing.new_secret())
    destination.previous_secret_expires_at = timezone.now() + timedelta(hours=1)
    two = _time_signing(event, destination, client_secret)
    return one, two


def _time_signing(event, destination, client_secret):
    from webhooks import events, signing

    started = time.perf_counter()
    for _ in range(SIGNING_ROUNDS):
        body = events.body(event)
        signing.headers(
            message_id=event.id,
            body=body,
            secrets=signing.signing_secrets(destination),
            client_secret=client_secret,
        )
    return (time.perf_counter() - started) / SIGNING_ROUNDS * 1e6


def _print_results(rounds, signing_us):
    bare = statistics.median(rounds["bare"])
    print()
    print(f"{'scenario':<10} {'median/s':>10} {'rounds/s':>30} {'vs bare':>8}")
    for name in SCENARIOS:
        median = statistics.median(rounds[name])
        each = ", ".join(f"{rate:,.0f}" for rate in rounds[name])
        print(f"{name:<10} {median:>10,.0f} {each:>30} {median / bare:>7.2f}x")
    worker_ratio = statistics.median(rounds["worker"]) / bare
    verdict = "meets" if worker_ratio >= RATIO_TARGET else "misses"
    target = f"{verdict} the {RATIO_TARGET}x target"
    print(f"\nworker / bare = {worker_ratio:.2f} ({target})")
    one, two = signing_us
    print(
        f"signing per request: {one:,.0f} µs with one secret, "
        f"{two:,.0f} µs with two (rotation overlap); includes body "
        "serialisation and decrypting the secrets"
    )
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")




if __name__ == "__main__":
    main()
