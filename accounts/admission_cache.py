"""Admission rows kept per client id and token, in each worker (PostgreSQL).

While a worker holds a request leased from the organisation's rate
limit, a repeated API call by the same key with the same access token
needs nothing from the database that its last admission did not read
(accounts.api_auth): the row (ids, row versions, secret hash, books
version) is kept here and the call makes no round trip. The secret is
still hashed and compared with the kept hash on every request.

Kept rows are forgotten, all at once, when what they read may change:

- in this process at once: a statement writing an API key, organisation,
  connection or books version, or the accounts and journal lines whose
  triggers bump books versions, forgets them before and after it runs
  (``watch_writes``);
- in every process once PostgreSQL's notification arrives: triggers on
  those four tables notify a channel (rutterdash migration 0002), which
  one connection per process LISTENs on (rutterdash.listener), read at the
  start of each request without a round trip.

A row is kept only if it was read after the listener was listening and
nothing was forgotten meanwhile (``generation``), never inside a
transaction (it may roll back), and for API_ADMISSION_CACHE_SECONDS at
most; 0 keeps nothing. While the listener is lost nothing is kept.
"""

import functools
import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.db import connection as db

from rutterdash.host_signal import HostSignal, default_path
from rutterdash.listener import Listener

CHANNEL = "rutterdash_admission"
MAX_ENTRIES = 1024


class AdmissionCache:
    def __init__(self):
        self._rows = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        self.listener = Listener(CHANNEL, self.forget_all)
        self._host_signal = None

    def generation(self):
        """Call first in a request: the generation to read and keep under, or None."""
        if settings.API_ADMISSION_CACHE_SECONDS <= 0 or db.in_atomic_block:
            return None
        if self.host_signal().changed():
            self.forget_all()
        if not self.listener.poll():
            return None
        return self._generation

    def host_signal(self):
        if self._host_signal is None:
            self._host_signal = HostSignal(default_path(db.settings_dict))
        return self._host_signal

    def changes_committed(self):
        """Forget kept rows here, and tell this host's other processes at once."""
        self.forget_all()
        self.host_signal().bump()

    def get(self, client_id, token, generation):
        if generation is None:
            return None
        kept = self._rows.get((client_id, token))
        if kept is None:
            return None
        row, kept_generation, kept_at = kept
        age = _now() - kept_at
        if kept_generation != generation or age >= settings.API_ADMISSION_CACHE_SECONDS:
            return None
        return row

    def put(self, client_id, token, row, generation):
        if generation is None:
            return
        key = (client_id, token)
        with self._lock:
            if generation != self._generation:
                return
            self._rows[key] = (row, generation, _now())
            self._rows.move_to_end(key)
            if len(self._rows) > MAX_ENTRIES:
                self._rows.popitem(last=False)

    def forget_all(self):
        with self._lock:
            self._generation += 1
            self._rows.clear()

    def __len__(self):
        return len(self._rows)


admission_cache = AdmissionCache()


def _now():
    return time.monotonic()


def watch_writes(sender, connection, **kwargs):
    """Forget kept rows around this connection's writes to what they read."""
    if connection.vendor != "postgresql" or _watched(connection):
        return
    # First, so that an ``execute_wrapper()`` block around the
    # connection's opening still pops its own wrapper.
    wrapper = functools.partial(_forget_on_write, connection)
    connection.execute_wrappers.insert(0, wrapper)


def _watched(connection):
    wrappers = connection.execute_wrappers
    return any(getattr(w, "func", None) is _forget_on_write for w in wrappers)


def _forget_on_write(connection, execute, sql, params, many, context):
    if not _writes_watched(sql):
        return execute(sql, params, many, context)
    admission_cache.forget_all()
    try:
        return execute(sql, params, many, context)
    finally:
        # Another thread may have kept the old rows meanwhile, until the
        # write commits.
        admission_cache.forget_all()
        # Before the request that wrote answers: processes on this host
        # must not wait for PostgreSQL's notification.
        if connection.in_atomic_block:
            connection.on_commit(admission_cache.changes_committed)
        else:
            admission_cache.changes_committed()


def _writes_watched(sql):
    if not isinstance(sql, str):
        return True
    if sql[:64].lstrip().upper().startswith("SELECT"):
        return False
    return any(table in sql for table in _watched_tables())


@functools.cache
def _watched_tables():
    from accounts.models import ApiKey, Organisation
    from connections.models import Account, Connection, JournalLine
    from rutterdash.models import BooksVersion

    models = (ApiKey, Organisation, Connection, BooksVersion, Account, JournalLine)
    return tuple(model._meta.db_table for model in models)
