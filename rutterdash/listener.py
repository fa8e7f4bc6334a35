"""A PostgreSQL connection per process that LISTENs on one channel.

``poll`` reads what has arrived without a round trip (libpq's
``PQconsumeInput`` reads only what the socket already holds) and calls
``on_change`` if anything did. The connection is opened lazily, in the
process that polls: a forked child never uses its parent's. A lost
connection also calls ``on_change``, since notifications may have been
missed, and ``poll`` answers False until a new one is listening; it is
opened again after FIRST_RETRY_SECONDS, doubling to MAX_RETRY_SECONDS.

A thread also polls every DRAIN_SECONDS. Without it, a process that
answers no request for a long while would leave notifications unread:
after about 130,000 of them the server's backend blocks writing to the
full socket, holding a snapshot that stops VACUUM (measured on
PostgreSQL 15), and the server's notification queue grows.
"""

import logging
import os
import threading
import time

import psycopg
from django.db import connection as db
from psycopg import pq

log = logging.getLogger(__name__)


class Listener:
    DRAIN_SECONDS = 1
    FIRST_RETRY_SECONDS = 1
    MAX_RETRY_SECONDS = 30
    CONNECT_TIMEOUT_SECONDS = 5

    def __init__(self, channel, on_change):
        self.channel = channel
        self.on_change = on_change
        self._connection = None
        self._drainer = None
        self._retry_at = 0.0
        self._delay = 0
        self._warned = False
        self._notices = []
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget_after_fork)

    def poll(self):
        """True if listening (after applying what arrived), else False."""
        with self._lock:
            if self._connection is None and not self._listen():
                return False
            try:
                arrived = _drained(self._connection.pgconn)
                self._raise_any_notice()
            except psycopg.Error as error:
                self._lost(error)
                return False
            # Under the lock: a poll that finds the socket already drained
            # by another thread must not return before the change applies.
            if arrived:
                self.on_change()
        return True

    def backend_pid(self):
        with self._lock:
            return self._connection and self._connection.info.backend_pid

    def close(self):
        with self._lock:
            if self._connection is not None:
                self._connection.close()
            self._connection = None

    def retry_now(self):
        self._retry_at = 0.0

    def _listen(self):
        if time.monotonic() < self._retry_at:
            return False
        try:
            self._connection = self._connect()
        except psycopg.Error as error:
            self._lost(error)
            return False

        self._delay = 0
        self._start_drainer()
        if self._warned:
            log.info("Listening on %s again", self.channel)
            self._warned = False
        # Nothing kept before now was watched: start afresh.
        self.on_change()
        return True

    def _connect(self):
        parameters = db.get_connection_params()
        parameters.setdefault("connect_timeout", self.CONNECT_TIMEOUT_SECONDS)
        connection = psycopg.connect(**parameters, autocommit=True)
        try:
            connection.execute(f"LISTEN {self.channel}")
        except psycopg.Error:
            connection.close()
            raise
        self._notices = []
        # The notice's fields are gone once the handler returns: keep its text.
        connection.add_notice_handler(
            lambda notice: self._notices.append(notice.message_primary or "notice")
        )
        return connection

    def _raise_any_notice(self):
        # An idle connection hears from the server only when it is ending
        # it ("terminating connection ..."): libpq passes that on as a
        # notice, and sees the connection closed only on a later read.
        if self._notices:
            raise psycopg.OperationalError(self._notices[0])

    def _start_drainer(self):
        if self._drainer is None:
            self._drainer = threading.Thread(
                target=self._keep_draining, name="listener-drain", daemon=True
            )
            self._drainer.start()

    def _keep_draining(self):
        while True:
            time.sleep(self.DRAIN_SECONDS)
            if self._connection is not None:
                self.poll()

    def _lost(self, error):
        if self._connection is not None:
            self._connection.close()
        self._connection = None
        self._delay = min(
            self.MAX_RETRY_SECONDS, (self._delay * 2) or self.FIRST_RETRY_SECONDS
        )
        self._retry_at = time.monotonic() + self._delay
        if not self._warned:
            log.warning(
                "Lost the PostgreSQL connection listening on %s (%s); what it "
                "guards is read from the database until it listens again",
                self.channel,
                str(error).strip() or type(error).__name__,
            )
            self._warned = True
        self.on_change()

    def _forget_after_fork(self):
        # The parent's connection is the parent's: never close or read it.
        self._lock = threading.Lock()
        self._connection = None
        self._drainer = None
        self._retry_at = 0.0
        self._delay = 0


def _drained(pgconn):
    pgconn.consume_input()
    if pgconn.status == pq.ConnStatus.BAD:
        raise psycopg.OperationalError("the listening connection is closed")
    arrived = False
    while pgconn.notifies() is not None:
        arrived = True
    return arrived
