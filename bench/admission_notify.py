"""How long another worker keeps an admission after a change commits.

Usage, from the project root, on a migrated PostgreSQL database:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rd_bench_api \\
        .venv/bin/python bench/admission_notify.py [--changes 1000]

One connection LISTENs as a worker's listener does; another commits a
statement on the organisation table (it changes no row, but the
statement-level trigger notifies all the same). The time from the commit
returning to the listener's non-blocking read (``PQconsumeInput`` and
``PQnotifies``, what each API request does first) finding the
notification is the window in which another worker's requests could
still be answered from what it kept. Prints median, p99 and maximum.
"""

import argparse
import os
import statistics
import time

import psycopg

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/rd_bench_api"
CHANNEL = "rutterdash_admission"
TOUCH = "UPDATE accounts_organisation SET name = name WHERE id = -1"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1000)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)

    with (
        psycopg.connect(url, autocommit=True) as listener,
        psycopg.connect(url, autocommit=True) as writer,
    ):
        listener.execute(f"LISTEN {CHANNEL}")
        delays = [_one_change(listener.pgconn, writer) for _ in range(args.changes)]

    delays_ms = sorted(delay * 1000 for delay in delays)
    p99 = delays_ms[int(len(delays_ms) * 0.99) - 1]
    print(f"changes {len(delays_ms)}")
    print(f"commit -> drained: median {statistics.median(delays_ms):.3f} ms, ", end="")
    print(f"p99 {p99:.3f} ms, max {delays_ms[-1]:.3f} ms")
    print(f"load average {os.getloadavg()[0]:.2f}")


def _one_change(pgconn, writer):
    writer.execute(TOUCH)
    committed = time.perf_counter()
    while not _drained(pgconn):
        pass
    return time.perf_counter() - committed


def _drained(pgconn):
    pgconn.consume_input()
    arrived = False
    while pgconn.notifies() is not None:
        arrived = True
    return arrived


if __name__ == "__main__":
    main()
