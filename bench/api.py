"""Time an API list call and a write against a bare view on local gunicorn.

Usage, from the project root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rd_bench_api \\
        .venv/bin/python bench/api.py [--requests 2000] [--rounds 3]

DATABASE_URL defaults to the PostgreSQL database rd_bench_api on
127.0.0.1, created and migrated if missing. Each run seeds a fresh
organisation ("API benchmark", earlier ones are deleted) with a sandbox
API key and a sandbox connection synced with three months of books.

Then it starts gunicorn with two sync workers on a loopback port (--port,
else any free one) with the product's default settings but DEBUG off and
a rate limit too high to refuse anything (the limiter still leases every
request from the shared count), and runs, in alternating rounds, after a
warm-up of each:

  list:  GET  /versioned/accounting/accounts (35 accounts with balances);
  list-miss: the same with a limit that changes every call (above 35), so
         the page kept for the books version never fits;
  write: POST /versioned/accounting/customers, a new customer each time;
  bare:  GET  /bench/bare, a plain Django view under the same server and
         middleware answering the bytes the list call answered;
  bare-api-chain: GET /versioned/bench/bare, the same bare view behind
         the API's short middleware chain (rutterdash.middleware) instead
         of the dashboard's full one;
  bare-query: GET /bench/bare-query, the same bytes after one SELECT 1
         (the least a view reading the database pays);
  bare-db: GET /bench/bare-db, a plain view doing the list's database
         work without the API layer (bench/bare_urls.py).

The client keeps CONCURRENCY requests in flight from threads using the
standard library's http.client, which costs the shared CPU less than
httpx would. It prints requests per second, p50 and p95 latency, errors,
the client's CPU per request, the ratios to the bare view (median over
rounds), and, read from /proc and steadier than throughput on a shared
machine, the CPU per request of the gunicorn workers (server ms) and of
the PostgreSQL backends serving the bench database (db ms; the server's
own background processes are not counted), and the load average.
Target: the list call at least 0.7x the bare view's throughput.
"""

import argparse
import base64
import http.client
import itertools
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import harness

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/rd_bench_api"
HOST = "127.0.0.1"
ORGANISATION_NAME = "API benchmark"
VERSION = "2023-03-14"
CONCURRENCY = 8
WARM_UP = 200
WORKERS = 2
RATIO_TARGET = 0.7
SCENARIOS = (
    "list",
    "list-miss",
    "write",
    "bare",
    "bare-api-chain",
    "bare-query",
    "bare-db",
)
# list-miss asks for the same accounts with a limit that changes every
# time (all above the 35 accounts), so no kept page ever fits: the cost
# of a list call just after the books changed.
MISS_LIMITS = range(51, 51 + 400)


def main():
    args = _arguments()
    _configure_environment()
    harness.create_database(os.environ["DATABASE_URL"])
    harness.setup_django()

    seeded = _seed()
    with tempfile.TemporaryDirectory(prefix="rd-bench-api-") as workdir:
        body_file = Path(workdir) / "list.json"
        body_file.write_bytes(seeded.list_body)
        log_file = Path(workdir) / "gunicorn.log"
        with _gunicorn(body_file, log_file, args.port) as server:
            rounds = _measure(server, seeded, args)
    _print_results(rounds)


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument(
        "--port", type=int, default=0, help="loopback port for gunicorn (0: any free)"
    )
    return parser.parse_args()


def _configure_environment():
    """Production-like settings, shared by this process and gunicorn."""
    defaults = {
        "DATABASE_URL": DEFAULT_DATABASE_URL,
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": HOST,
        "SECURE_SSL_REDIRECT": "false",
        "RATE_LIMIT_REQUESTS": str(10**9),
        "LOG_LEVEL": "WARNING",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    os.environ["DJANGO_SETTINGS_MODULE"] = "rutterdash.settings"


# Seeding the organisation, key and connection.


@dataclass
class Seeded:
    authorization: str
    access_token: str
    list_body: bytes


def _seed():
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import override_settings

    call_command("migrate", verbosity=0)
    # Only this process's sync should fill the books: no task is left
    # queued for a worker that might run later against this database.
    dummy = {
        **settings.TASKS["default"],
        "BACKEND": "django_tasks.backends.dummy.DummyBackend",
    }
    with override_settings(TASKS={"default": dummy}):
        authorization, token = _seed_organisation()
    list_body = _captured_list_body(authorization, token)
    return Seeded(authorization, token, list_body)


def _seed_organisation():
    from accounts.models import Organisation
    from accounts.services import api_key_create
    from connections import services
    from connections.sync import sync_books
    from rutterdash.environments import Environment
    from rutterdash.scoping import Scope

    _delete_earlier_runs(Organisation)
    organisation = Organisation.objects.create(name=ORGANISATION_NAME)
    api_key, secret = api_key_create(organisation, Environment.SANDBOX)

    scope = Scope(organisation, Environment.SANDBOX)
    connection, token = services.connection_create(scope, "quickbooks")
    sync_books(connection, months=3)
    harness.progress(f"Seeded connection {connection.id}")
    return _basic(api_key.client_id, secret), token


def _delete_earlier_runs(organisations):
    from connections.models import Connection
    from connections.services import connection_delete

    earlier = organisations.objects.filter(name=ORGANISATION_NAME)
    connections = Connection.objects.filter(organisation__in=earlier)
    for connection in connections:
        connection_delete(connection)
    earlier.delete()


def _basic(client_id, secret):
    pair = f"{client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _captured_list_body(authorization, token):
    from django.test import Client

    client = Client(headers=_headers(authorization))
    response = client.get(_list_path(token), HTTP_HOST=HOST)
    if response.status_code != 200:
        raise SystemExit(f"List call answered {response.status_code}")
    return response.content


def _headers(authorization):
    return {"Authorization": authorization, "X-Rutter-Version": VERSION}


def _list_path(token):
    query = urlencode({"access_token": token})
    return f"/versioned/accounting/accounts?{query}"


def _write_path(token):
    query = urlencode({"access_token": token})
    return f"/versioned/accounting/customers?{query}"


# The server.


class _gunicorn:
    """Run gunicorn for the block; stop it however the block ends."""

    def __init__(self, body_file, log_file, port):
        self.body_file = body_file
        self.port = port
        self.log_file = log_file
        self.process = None

    def __enter__(self):
        self.port = port = self.port or _free_port()
        environment = {
            **os.environ,
            "ROOT_URLCONF": "bench.bare_urls",
            "BENCH_BARE_BODY": str(self.body_file),
        }
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "rutterdash.wsgi",
            "--workers",
            str(WORKERS),
            "--bind",
            f"{HOST}:{port}",
        ]
        self.log = open(self.log_file, "wb")
        self.process = subprocess.Popen(
            command,
            cwd=harness.ROOT,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_until_listening(self.process, port, self.log_file)
        return self

    def workers_cpu(self):
        """CPU seconds the workers (the master's children) have used so far."""
        return _cpu_seconds(lambda entry, ppid: ppid == self.process.pid)

    def __exit__(self, *exc_info):
        _stop(self.process)
        self.log.close()
        if exc_info[0] is not None:
            harness.progress(self.log_file.read_text()[-3000:])


def database_cpu(name):
    """CPU seconds PostgreSQL's backends serving database ``name`` have used.

    Backends name their database in their process title ("postgres:
    user database host state"); a backend that exited meanwhile is missed.
    """

    def serves(entry, ppid):
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            return False
        return title.startswith(b"postgres: ") and f" {name} ".encode() in title

    return _cpu_seconds(serves)


def _cpu_seconds(wanted):
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # After the command's closing parenthesis: state, ppid, ...,
        # utime and stime at positions 11 and 12.
        fields = stat.rsplit(")", 1)[1].split()
        if wanted(entry, int(fields[1])):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _wait_until_listening(process, port, log_file):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("gunicorn exited:\n" + log_file.read_text())
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start listening within 30 s")


def _stop(process):
    # gunicorn leads its own session: stopping the group stops its workers.
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# The load.


@dataclass
class Result:
    scenario: str
    seconds: float
    latencies: list = field(default_factory=list)
    errors: int = 0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    database_cpu: float = 0.0
    load: float = 0.0

    @property
    def per_second(self):
        return len(self.latencies) / self.seconds

    def percentile_ms(self, fraction):
        ordered = sorted(self.latencies)
        return ordered[int(fraction * (len(ordered) - 1))] * 1000


def _measure(server, seeded, args):
    requests = _requests(seeded)
    _check_bare_matches_list(server.port, requests)
    for scenario in SCENARIOS:
        _load(server, requests[scenario], WARM_UP, args.concurrency)

    rounds = []
    for number in range(1, args.rounds + 1):
        results = {}
        for scenario in SCENARIOS:
            results[scenario] = _load(
                server, requests[scenario], args.requests, args.concurrency
            )
            results[scenario].scenario = scenario
        _print_round(number, results)
        rounds.append(results)
    return rounds


def _requests(seeded):
    """For each scenario, a function making its (method, path, body, headers)."""
    headers = _headers(seeded.authorization)
    list_call = ("GET", _list_path(seeded.access_token), None, headers)
    bare_call = ("GET", "/bench/bare", None, {})
    bare_api_chain_call = ("GET", "/versioned/bench/bare", None, {})
    bare_query_call = ("GET", "/bench/bare-query", None, {})
    bare_db_call = (
        "GET",
        f"/bench/bare-db?access_token={seeded.access_token}",
        None,
        {},
    )
    write_path = _write_path(seeded.access_token)
    write_headers = {**headers, "Content-Type": "application/json"}

    def write_call():
        return ("POST", write_path, _new_customer(), write_headers)

    limits = itertools.cycle(MISS_LIMITS)

    def list_miss_call():
        path = f"{_list_path(seeded.access_token)}&limit={next(limits)}"
        return ("GET", path, None, headers)

    return {
        "list": lambda: list_call,
        "list-miss": list_miss_call,
        "write": write_call,
        "bare": lambda: bare_call,
        "bare-api-chain": lambda: bare_api_chain_call,
        "bare-query": lambda: bare_query_call,
        "bare-db": lambda: bare_db_call,
    }


def _new_customer():
    name = uuid.uuid4().hex[:12]
    customer = {
        "customer_name": f"Bench customer {name}",
        "contact_name": f"Contact {name}",
        "email": f"{name}@example.com",
        "phone": "+44 20 7946 0000",
    }
    return json.dumps({"customer": customer}).encode()


def _check_bare_matches_list(port, requests):
    _, list_body = _call(port, *requests["list"]())
    for bare in ("bare", "bare-api-chain", "bare-query"):
        _, bare_body = _call(port, *requests[bare]())
        if list_body != bare_body:
            raise SystemExit(f"The {bare} view does not answer the list's bytes")
    _, bare_db_body = _call(port, *requests["bare-db"]())
    if json.loads(list_body) != json.loads(bare_db_body):
        raise SystemExit("The bare-db view does not answer the list call's JSON")


def _load(server, make_request, total, concurrency):
    """Send `total` requests, `concurrency` at a time; time each one."""
    result = Result("", 0.0)
    remaining = iter(range(total))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            _timed_call(server.port, make_request(), result, lock)

    server_cpu_started = server.workers_cpu()
    database_cpu_started = database_cpu(_database_name())
    cpu_started = time.process_time()
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    result.seconds = time.perf_counter() - started
    result.client_cpu = time.process_time() - cpu_started
    result.server_cpu = server.workers_cpu() - server_cpu_started
    result.database_cpu = database_cpu(_database_name()) - database_cpu_started
    result.load = os.getloadavg()[0]
    return result


def _timed_call(port, request, result, lock):
    started = time.perf_counter()
    try:
        status, _ = _call(port, *request)
    except OSError:
        status = None
    elapsed = time.perf_counter() - started

    with lock:
        if status is not None and 200 <= status < 300:
            result.latencies.append(elapsed)
        else:
            result.errors += 1


def _call(port, method, path, body, headers):
    # gunicorn's sync workers close the connection after each answer, so
    # every request opens a new one, as a real client's would.
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# Reporting.

ROW = "{:<10}{:>9}{:>9}{:>9}{:>8}{:>11}{:>11}{:>8}{:>7}"


def _print_round(number, results):
    print(f"\nRound {number}")
    print(
        ROW.format(
            "",
            "req/s",
            "p50 ms",
            "p95 ms",
            "errors",
            "client ms",
            "server ms",
            "db ms",
            "load",
        )
    )
    for result in results.values():
        print(_row(result))
    print(_ratios_line(results))


def _row(result):
    served = len(result.latencies) + result.errors
    client_ms = result.client_cpu / max(served, 1) * 1000
    return ROW.format(
        result.scenario,
        f"{result.per_second:.1f}",
        f"{result.percentile_ms(0.50):.1f}",
        f"{result.percentile_ms(0.95):.1f}",
        result.errors,
        f"{client_ms:.2f}",
        f"{_server_ms(result):.2f}",
        f"{_database_ms(result):.2f}",
        f"{result.load:.2f}",
    )


def _ratios(results):
    bare = results["bare"].per_second
    names = ("list", "list-miss", "write")
    return {name: results[name].per_second / bare for name in names}


def _ratios_line(results):
    ratios = _ratios(results)
    return "  ".join(f"{name}/bare {ratio:.2f}" for name, ratio in ratios.items())


def _print_results(rounds):
    print("\nMedians over rounds")
    print(
        ROW.format(
            "", "req/s", "p50 ms", "p95 ms", "errors", "", "server ms", "db ms", ""
        )
    )
    for scenario in SCENARIOS:
        runs = [results[scenario] for results in rounds]
        print(_median_row(scenario, runs))

    list_ratio = statistics.median(_ratios(r)["list"] for r in rounds)
    miss_ratio = statistics.median(_ratios(r)["list-miss"] for r in rounds)
    write_ratio = statistics.median(_ratios(r)["write"] for r in rounds)
    same_work = statistics.median(
        r["list"].per_second / r["bare-db"].per_second for r in rounds
    )
    verdict = "met" if list_ratio >= RATIO_TARGET else "NOT met"
    print(f"list/bare {list_ratio:.2f} (target {RATIO_TARGET}: {verdict})")
    print(f"list-miss/bare {miss_ratio:.2f} (no kept page fits)")
    print(f"write/bare {write_ratio:.2f}")
    print(f"list/bare-db {same_work:.2f} (the API layer's cost over the same work)")
    one_query = statistics.median(
        r["list"].per_second / r["bare-query"].per_second for r in rounds
    )
    print(f"list/bare-query {one_query:.2f} (against a view with one round trip)")
    short_chain = statistics.median(
        r["list"].per_second / r["bare-api-chain"].per_second for r in rounds
    )
    print(
        f"list/bare-api-chain {short_chain:.2f} (against the bare view behind the "
        "API's own short middleware chain)"
    )
    cpu_ratio = statistics.median(
        _server_ms(r["bare"]) / _server_ms(r["list"]) for r in rounds
    )
    print(
        f"bare/list workers' CPU per request {cpu_ratio:.2f} "
        "(steadier under load; PostgreSQL's CPU not included)"
    )
    with_database = statistics.median(
        _server_ms(r["bare"]) / (_server_ms(r["list"]) + _database_ms(r["list"]))
        for r in rounds
    )
    print(f"bare/list workers' and PostgreSQL's CPU per request {with_database:.2f}")
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


def _median_row(scenario, runs):
    return ROW.format(
        scenario,
        f"{statistics.median(r.per_second for r in runs):.1f}",
        f"{statistics.median(r.percentile_ms(0.50) for r in runs):.1f}",
        f"{statistics.median(r.percentile_ms(0.95) for r in runs):.1f}",
        sum(r.errors for r in runs),
        "",
        f"{statistics.median(_server_ms(r) for r in runs):.2f}",
        f"{statistics.median(_database_ms(r) for r in runs):.2f}",
        "",
    )


def _server_ms(result):
    return result.server_cpu / _served(result) * 1000


def _database_ms(result):
    return result.database_cpu / _served(result) * 1000


def _served(result):
    return max(len(result.latencies) + result.errors, 1)


def _database_name():
    return urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/")


if __name__ == "__main__":
    main()
