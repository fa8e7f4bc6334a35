"""A counter in shared memory that processes on one host bump to say "changed".

PostgreSQL's notifications reach other processes a little after the commit
that sent them: usually microseconds, but on a busy machine sometimes after
the changing request has already answered, so the next request, sent by a
client that saw the answer, could still be served from what was kept. The
processes of one deployment on one host (serve's gunicorn workers and task
worker) also share this counter: a change bumps it after it commits and
before its request answers, and every request reads it (one memory read).

Values never repeat (time in nanoseconds mixed with the process id), so a
reader sees any bump that happened since it last looked; a torn read only
looks like one more change.
"""

import hashlib
import mmap
import os
import struct
import tempfile
import threading
import time
from pathlib import Path

_VALUE = struct.Struct("<Q")


class HostSignal:
    def __init__(self, path):
        self.path = Path(path)
        self._map = None
        self._seen = None
        self._lock = threading.Lock()

    def bump(self):
        value = (time.time_ns() ^ (os.getpid() << 40)) & 0xFFFFFFFFFFFFFFFF
        self._mapped()[: _VALUE.size] = _VALUE.pack(value)

    def changed(self):
        """Whether anyone bumped it since this process last asked."""
        (value,) = _VALUE.unpack(self._mapped()[: _VALUE.size])
        with self._lock:
            changed, self._seen = value != self._seen, value
        return changed

    def _mapped(self):
        if self._map is None:
            with self._lock:
                if self._map is None:
                    self._map = _open(self.path)
        return self._map


def _open(path):
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(descriptor).st_size < _VALUE.size:
            os.ftruncate(descriptor, _VALUE.size)
        return mmap.mmap(descriptor, _VALUE.size)
    finally:
        os.close(descriptor)


def default_path(database):
    """One file per database, in shared memory where the host has it."""
    where = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    name = f"{database.get('HOST')}:{database.get('PORT')}/{database.get('NAME')}"
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return os.path.join(where, f"rutterdash-{digest}.signal")
