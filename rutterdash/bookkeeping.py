"""Transactions for the API's own bookkeeping rows, not customers' books.

Every API request bumps its rate-limit counter and writes a request-log
row, each in its own transaction. Waiting for the disk on those commits
cost about as much as the rest of a list call's queries together, so on
PostgreSQL they commit asynchronously: the rows are visible at once, and
a database crash can lose at most the last fraction of a second of them
(a few requests' counts and log lines), never leave them inconsistent.
"""

from contextlib import contextmanager

from django.db import connection, transaction

_NO_DISK_WAIT = "SET LOCAL synchronous_commit TO OFF"


@contextmanager
def commit_without_waiting():
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_NO_DISK_WAIT)
        yield
