"""Time the accounting export against a bare openpyxl write-only loop.

Usage, from the project root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rd_bench \\
        .venv/bin/python bench/export.py [--lines 500000] [--rounds 3]

DATABASE_URL defaults to the PostgreSQL database rd_bench on 127.0.0.1,
which is created and migrated if missing. A sandbox connection ("Export
benchmark") is grown with the sandbox generator, SANDBOX_SCALE raised, until
it holds --lines journal lines; later runs reuse it.

Each measurement runs in a fresh subprocess, alternating between:
  export: connections.exports.write_accounting_export to a temporary file;
  bare:   the same rows, fetched by the same queries, appended as they come
          to a plain openpyxl write-only workbook with no styling at all.
It prints wall and CPU seconds and peak RSS (the child's ru_maxrss) per run,
then the medians and the export/bare ratio. Targets: at most 1.15x the bare
loop's time and under 150 MB peak.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/rd_bench"
STORE_NAME = "Export benchmark"
TIME_RATIO_TARGET = 1.15
PEAK_MB_TARGET = 150
# The generator's volume is random around its scale; aim a little high.
SCALE_MARGIN = 1.03


def main():
    args = _arguments()
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("DEBUG", "true")
    if args.measure:
        _measure(args.measure, args.connection, args.output)
    elif args.prepare:
        _prepare(args.lines)
    else:
        _orchestrate(args)


def _orchestrate(args):
    # This process stays small and free of Django: Linux carries a
    # process's peak RSS over into the children it starts, so a parent that
    # had generated the books would set every child's peak.
    prepared = _child(["--prepare", "--lines", str(args.lines)])
    runs = _run_all(prepared["connection"], args.rounds)
    _print_results(prepared["lines"], runs)


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prepare", action="store_true")
    parser.add_argument("--measure", choices=["export", "bare"])
    parser.add_argument("--connection")
    parser.add_argument("--output")
    return parser.parse_args()


def _child(arguments):
    """Run this script with `arguments`; its last line of output is JSON."""
    command = [sys.executable, __file__, *arguments]
    finished = subprocess.run(
        command, stdout=subprocess.PIPE, text=True, check=True, env=os.environ
    )
    return json.loads(finished.stdout.strip().splitlines()[-1])




# Preparing the database and the connection.




def _prepare(target_lines):
    harness.create_database(os.environ["DATABASE_URL"])
    harness.setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    connection = _find_or_create_connection()
    lines = _journal_lines(connection)
    if lines < target_lines:
        lines = _grow(connection, target_lines)
    harness.progress(f"Connection {connection.id}: {lines:,} journal lines")
    print(json.dumps({"connection": str(connection.id), "lines": lines}))




def _find_or_create_connection():
    import uuid

    from accounts.models import Organisation
    from connections.models import Connection
    from rutterdash.environments import Environment

    found = Connection.objects.filter(store_name=STORE_NAME).first()
    if found:
        return found

    organisation = Organisation.objects.create(name="Benchmarks")
    connection = Connection(
        organisation=organisation,
        environment=Environment.SANDBOX,
        platform="QUICKBOOKS",
        store_name=STORE_NAME,
    )
    connection.set_access_token(f"access-sandbox-{uuid.uuid4()}")
    connection.save()
    return connection


def _journal_lines(connection):
    from connections.models import JournalLine

    return JournalLine.objects.filter(connection=connection).count()


def _grow(connection, target_lines):
    """Resync the connection at the scale that yields `target_lines` lines."""
    from django.test import override_settings

    from connections.sync import sync_books

    scale = SCALE_MARGIN * target_lines / _lines_at_scale_one(connection)
    while True:
        harness.progress(f"Generating books at SANDBOX_SCALE={scale:.2f}")
        started = time.perf_counter()
        with override_settings(SANDBOX_SCALE=scale):
            sync_books(connection)
        lines = _journal_lines(connection)
        harness.progress(f"  {lines:,} lines in {time.perf_counter() - started:.0f} s")
        if lines >= target_lines:
            return lines
        scale *= SCALE_MARGIN * target_lines / lines


def _lines_at_scale_one(connection):
    """Journal lines the generator makes at scale 1, counted without saving."""
    from connections.models import JournalLine
    from platforms.sandbox.generator import generate_books

    batches = generate_books(connection, scale=1.0)
    return sum(len(b.rows) for b in batches if b.model is JournalLine)


# Measuring, each run in its own process.


def _run_all(connection_id, rounds):
    runs = {"export": [], "bare": []}
    for round_number in range(1, rounds + 1):
        for kind in runs:
            result = _run_child(kind, connection_id)
            runs[kind].append(result)
            print(
                f"round {round_number} {kind:6} wall {result['wall']:7.2f} s"
                f"  cpu {result['cpu']:7.2f} s  peak {result['peak_mb']:6.1f} MB"
                f"  file {result['bytes'] / 1e6:6.1f} MB",
                flush=True,
            )
    return runs


def _run_child(kind, connection_id):
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / f"{kind}.xlsx"
        arguments = ["--connection", connection_id, "--output", str(output)]
        return _child(["--measure", kind, *arguments])


def _measure(kind, connection_id, output):
    harness.setup_django()
    from connections.models import Connection

    connection = Connection.objects.get(pk=connection_id)
    write = _write_export if kind == "export" else _write_bare
    wall, cpu = time.perf_counter(), time.process_time()
    with open(output, "wb") as fileobj:
        write(connection, fileobj)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    # Linux reports ru_maxrss in kilobytes.
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "wall": wall,
        "cpu": cpu,
        "peak_mb": peak_kb / 1024,
        "bytes": os.path.getsize(output),
    }
    print(json.dumps(result))


def _write_export(connection, fileobj):
    from connections.exports import write_accounting_export

    write_accounting_export(connection, fileobj)


def _write_bare(connection, fileobj):
    from openpyxl import Workbook

    from connections.exports import SHEETS
    from connections.ledger import snapshot

    book = Workbook(write_only=True)
    with snapshot():
        for entity in SHEETS:
            sheet = book.create_sheet(entity.title)
            sheet.append([field.header for field in entity.fields])
            for row in entity.rows(connection):
                sheet.append(row)
    book.save(fileobj)


# Reporting.


def _print_results(lines, runs):
    export, bare = _summary(runs["export"]), _summary(runs["bare"])
    ratio = export["wall"] / bare["wall"]
    cpu_ratio = export["cpu"] / bare["cpu"]
    print()
    print(f"Accounting export of {lines:,} journal lines (medians)")
    print(f"{'':8} {'wall s':>8} {'cpu s':>8} {'peak MB':>8}")
    for name, figures in (("export", export), ("bare", bare)):
        print(
            f"{name:8} {figures['wall']:8.2f} {figures['cpu']:8.2f}"
            f" {figures['peak_mb']:8.1f}"
        )
    print(f"ratio    {ratio:8.3f} {cpu_ratio:8.3f}")
    time_ok = ratio <= TIME_RATIO_TARGET
    memory_ok = export["peak_mb"] < PEAK_MB_TARGET
    print(
        f"target: time <= {TIME_RATIO_TARGET}x: {'met' if time_ok else 'MISSED'};"
        f" peak < {PEAK_MB_TARGET} MB: {'met' if memory_ok else 'MISSED'}"
    )


def _summary(results):
    keys = ("wall", "cpu", "peak_mb")
    return {key: statistics.median(r[key] for r in results) for key in keys}


if __name__ == "__main__":
    main()
