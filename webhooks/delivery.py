"""Sending messages: claim what is due, send it, record what happened.

A worker task claims a batch of due messages under row locks (skipped by
other workers), leases them and commits; only then are the requests sent,
several at once, each bounded by the total deadline. Outcomes are recorded
as they arrive: each attempt's row is written with its outcome, in the
transaction that settles its message. A worker that dies mid-send leaves
its leases to run out; the message is then due again, its unrecorded
attempt is written as interrupted, and it is sent again with the same
event id (at least once, never twice at a time).

Messages to one destination about one connection form a stream, sent in
the order their events were recorded: one thread sends a stream's share
of a batch one message after another and stops at the first failure, and
a message is not claimed while an earlier one of its stream is still
open outside the batch.

410 Gone stops a message's retries at once and disables the destination
(a receiver saying it is gone for good); admins are emailed. So they are
when a destination keeps failing for WEBHOOK_DISABLE_AFTER.
"""

import email.utils
import functools
import json
import logging
import random
import sys
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django import db
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from accounts.models import ApiKey, Membership, Role
from rutterdash import task_queue
from webhooks import events, http, netguard, signing
from webhooks.models import Attempt, Destination, Message, MessageStatus

log = logging.getLogger(__name__)

# Each destination's typical answer time in seconds, as this process saw it.
_latency = {}

BATCH_SIZE = 250
# Seconds one task claims batches for before handing over to a fresh task,
# so a long backlog does not keep other queued work (syncs) waiting.
TASK_SECONDS = 2.0
# Extra lease time beyond two request deadlines, for recording the outcome.
LEASE_MARGIN = timedelta(seconds=30)
# Lanes (threads) per destination: one, plus one per this much of its
# typical answer time; UNKNOWN_LANES before its first answer.
LANE_LATENCY = 0.001
UNKNOWN_LANES = 4
# A destination is not claimed for while what waits for it would take this
# long to send (its answer time taken as UNKNOWN_LATENCY before it answers).
QUEUE_SECONDS = 1.0
UNKNOWN_LATENCY = 0.1
# A task out of time waits for requests to destinations answering slower
# than this (or not heard from) before it hands over, claiming for the rest.
DRAIN_LATENCY = 0.05
# A thread takes about this long's worth of a destination's streams at once.
CHUNK_SECONDS = 0.02
LATENCY_WEIGHT = 0.2
# Claim when fewer messages than this wait for a thread; record outcomes in
# groups of about RECORD_EVERY (or every FLUSH_EVERY seconds).
LOW_WATER = BATCH_SIZE // 2
RECORD_EVERY = 100
# Seconds between thread switches while requests are out (Python's is 0.005).
SWITCH_INTERVAL = 0.0005
RETRY_JITTER = 0.1
FAILING_SHARE = 2
# Messages of one stream sent in a batch; they go one after another.
STREAM_SHARE = 50
THROTTLE_WAIT = timedelta(seconds=5)
# How soon a message held behind earlier ones of its stream is looked at again.
ORDER_WAIT = timedelta(seconds=1)
# How much later than its stream's first a held message falls due.
ORDER_GAP = timedelta(milliseconds=1)
# Held messages of a stream fall due this far apart, in the stream's order.
_IN_ORDER = timedelta(microseconds=1)
# Outcomes are written at least this often (seconds) while a batch is out.
FLUSH_EVERY = 0.5
ERROR_LENGTH = 300
OPEN = (MessageStatus.PENDING, MessageStatus.RETRYING)
GONE = 410
INTERRUPTED = (
    "The worker stopped before it recorded an answer; the request may not have "
    "been sent. Sent again."
)


@dataclass
class Job:
    """One claimed message, with everything its request needs."""

    message: Message
    attempt: Attempt
    url: str
    body: bytes
    headers: dict


def schedule(message=None, run_after=None):
    """Have a worker deliver what is due; with a message, make it due now first.

    A message given here starts a new cycle with the full retry schedule
    (resend, replay); its event id stays the same.
    """
    if message is not None:
        _make_due(Message.objects.filter(pk=message.pk))
        message.refresh_from_db()
    transaction.on_commit(lambda: enqueue(run_after))


def schedule_many(messages):
    """schedule() for every message of a queryset, in one UPDATE; returns the count."""
    count = _make_due(messages)
    if count:
        schedule()
    return count


def deliver_all_due():
    """Deliver due messages for TASK_SECONDS; returns how many were claimed.

    A batch is claimed whenever fewer than LOW_WATER messages wait for a
    thread, leaving out destinations that already have as much waiting as
    they can send in QUEUE_SECONDS; outcomes are recorded as they arrive.

    When the time is up, the task drains: it claims no more for slow
    destinations but keeps claiming for fast ones until the slow requests
    it has out have answered (each within the deadline). Handing over with
    a slow request out would keep the next task waiting for it, and every
    fast destination with it.
    """
    claimed = 0
    secrets = _Secrets()
    hand_over_at = time.monotonic() + TASK_SECONDS
    stop_claiming_at = hand_over_at + settings.WEBHOOK_TOTAL_TIMEOUT
    with _Flight(hand_over_at) as flight:
        more_due = True
        while True:
            now = time.monotonic()
            draining = now >= hand_over_at
            if draining:
                flight.give_back_slow_waiting()
            if flight.waiting_jobs < LOW_WATER and now < stop_claiming_at:
                skip = flight.saturated()
                if draining:
                    skip += flight.slow_destinations()
                jobs = claim_due(secrets=secrets, skip=skip)
                flight.add(jobs)
                claimed += len(jobs)
                # A claim trims and skips slow destinations: claim again
                # at once while claims still find something.
                more_due = bool(jobs)
                if not jobs and flight.idle():
                    break  # nothing due, nothing on the wire
            if draining and not flight.slow_on_the_wire():
                # What no thread has taken yet goes back, due as it was, so
                # the fresh task (and other work) need not wait for it.
                flight.release_waiting()
                schedule()
                break
            flight.record_arrived(claim_when_low=more_due)
    _wake_for_next_retry(timezone.now())
    return claimed


def deliver_due(limit=None):
    """Claim up to `limit` due messages, send them concurrently, record outcomes."""
    jobs = claim_due(limit)
    with _Flight() as flight:
        flight.add(jobs)
    return len(jobs)


class _Flight:
    """Claimed jobs waiting per destination, sent by a fixed set of threads.

    A thread takes one stream at a time, going round the destinations that
    have streams waiting, and a destination never has more streams on the
    wire than its lane_count (one, plus one per millisecond of its typical
    answer time), nor more than half the threads while another destination
    has work. So a slow or dead receiver holds only its own share of the
    threads, each for no longer than a request's deadline.

    The thread that made the flight records outcomes in groups and renews
    the leases of the messages it holds. While requests are out Python
    switches threads more often than its default 5 ms: a thread whose
    answer has arrived would otherwise wait for the GIL while the recording
    thread builds the next batch.
    """

    def __init__(self, hand_over_at=None):
        self.hand_over_at = hand_over_at
        self.threads = settings.WEBHOOK_CONCURRENCY
        self.pool = ThreadPoolExecutor(max_workers=self.threads)
        lock = threading.Lock()
        self.work = threading.Condition(lock)  # senders wait for streams
        self.arrived = threading.Condition(lock)  # the recorder waits for outcomes
        self.waiting = {}  # destination id -> deque of streams, in round order
        self.waiting_jobs = 0
        self.on_the_wire = Counter()  # destination id -> streams being sent
        self.held = {}  # message pk -> job, until its outcome is recorded
        self.outcomes = []
        self.closed = False
        self.renewed_at = time.monotonic()
        self.switch_interval = None

    def __enter__(self):
        self.switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self.switch_interval, SWITCH_INTERVAL))
        for _ in range(self.threads):
            self.pool.submit(self._send_until_closed)
        return self

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                while not self.idle():
                    self.record_arrived(claim_when_low=False)
        finally:
            with self.work:
                self.closed = True
                self.work.notify_all()
            self.pool.shutdown(wait=True)
            sys.setswitchinterval(self.switch_interval)

    def add(self, jobs):
        with self.work:
            for stream in streams(jobs):
                destination_id = stream[0].message.destination_id
                self.waiting.setdefault(destination_id, deque()).append(stream)
                self.waiting_jobs += len(stream)
                for job in stream:
                    self.held[job.message.pk] = job
            self.work.notify_all()

    def idle(self):
        with self.work:
            return not self.held

    def release_waiting(self, only=None):
        """Give back the claim of every job no thread has taken yet.

        `only`: a test of destination ids, to give back only theirs.
        """
        with self.work:
            jobs = []
            for destination_id in list(self.waiting):
                if only is None or only(destination_id):
                    queue = self.waiting.pop(destination_id)
                    jobs.extend(job for stream in queue for job in stream)
            self.waiting_jobs -= len(jobs)
            for job in jobs:
                del self.held[job.message.pk]
        release(jobs)

    def draining(self):
        """Past the hand-over: slow destinations get nothing more (_next_streams)."""
        return self.hand_over_at is not None and time.monotonic() >= self.hand_over_at

    def give_back_slow_waiting(self):
        self.release_waiting(only=_known_slow)

    def slow_on_the_wire(self):
        with self.work:
            return any(_is_slow(d) for d in self.on_the_wire)

    def slow_destinations(self):
        """Destinations known to answer slowly, and those on the wire not heard from.

        One not heard from and not on the wire may be claimed: it takes at
        most one deadline before the task knows.
        """
        with self.work:
            on_the_wire = list(self.on_the_wire)
        known_slow = [d for d, latency in _latency.items() if latency >= DRAIN_LATENCY]
        return list({*known_slow, *(d for d in on_the_wire if _is_slow(d))})

    def saturated(self):
        """Destinations with as much waiting as they can send in QUEUE_SECONDS."""
        with self.work:
            return [
                destination_id
                for destination_id, queue in self.waiting.items()
                if sum(len(stream) for stream in queue) >= _full_at(destination_id)
            ]

    def record_arrived(self, claim_when_low):
        """Wait up to FLUSH_EVERY for outcomes or low work; record them."""
        with self.arrived:
            self.arrived.wait_for(
                lambda: len(self.outcomes) >= RECORD_EVERY
                or (claim_when_low and self.waiting_jobs < LOW_WATER)
                or len(self.outcomes) >= len(self.held),
                timeout=FLUSH_EVERY,
            )
            outcomes, self.outcomes = self.outcomes, []
        record_all(outcomes)
        with self.work:
            for job, _ in outcomes:
                del self.held[job.message.pk]
            if self.waiting:
                # New answer times may allow a destination more threads.
                self.work.notify_all()
        self._renew_leases()

    def _send_until_closed(self):
        while True:
            with self.work:
                taken = self._next_streams()
                while taken is None:
                    if self.closed:
                        return
                    self.work.wait()
                    taken = self._next_streams()
            destination_id, streams_taken = taken
            outcomes = []
            give_up_at = time.monotonic() + CHUNK_SECONDS * 5
            while streams_taken:
                sent, untried = _send_safely(streams_taken.pop(0), give_up_at)
                outcomes.extend(sent)
                if untried:
                    streams_taken.insert(0, untried)
                if time.monotonic() > give_up_at:
                    break  # answers got slow: the rest go back in the round
            # Before any thread takes what goes back: lanes, chunks and the
            # drain go by it.
            _note_latency(outcomes)
            with self.work:
                self._put_back(destination_id, streams_taken)
                self.on_the_wire[destination_id] -= 1
                if not self.on_the_wire[destination_id]:
                    del self.on_the_wire[destination_id]
                self.outcomes.extend(outcomes)
                if len(self.outcomes) >= RECORD_EVERY or self.waiting_jobs < LOW_WATER:
                    self.arrived.notify()
                if len(self.outcomes) == len(self.held):
                    self.arrived.notify()  # the last one: the recorder may finish

    def _next_streams(self):
        """(destination, streams) next in the round; None if none may go now.

        Each destination with work may have an equal share of the threads.

        A destination answering fast gives a thread CHUNK_SECONDS' worth of
        its streams at once, so taking turns costs little per message.
        """
        draining = self.draining()
        active = len(self.waiting.keys() | self.on_the_wire.keys())
        share = max(1, self.threads // max(active, 1))
        for destination_id, queue in self.waiting.items():
            if draining and _known_slow(destination_id):
                continue  # given back when the task hands over
            limit = min(lane_count(destination_id), share)
            if self.on_the_wire.get(destination_id, 0) >= limit:
                continue
            taken = [queue.popleft()]
            jobs = len(taken[0])
            most = _chunk_jobs(destination_id)
            while queue and jobs + len(queue[0]) <= most:
                taken.append(queue.popleft())
                jobs += len(taken[-1])
            # To the back of the round, or out of it when nothing is left.
            del self.waiting[destination_id]
            if queue:
                self.waiting[destination_id] = queue
            self.waiting_jobs -= jobs
            self.on_the_wire[destination_id] += 1
            return destination_id, taken
        return None

    def _put_back(self, destination_id, streams_left):
        if not streams_left:
            return
        queue = self.waiting.setdefault(destination_id, deque())
        queue.extendleft(reversed(streams_left))
        self.waiting_jobs += sum(len(stream) for stream in streams_left)
        self.work.notify()

    def _renew_leases(self):
        if time.monotonic() - self.renewed_at < _lease_length().total_seconds() / 4:
            return
        self.renewed_at = time.monotonic()
        with self.work:
            held = list(self.held)
        Message.objects.filter(pk__in=held, lease_until__isnull=False).update(
            lease_until=timezone.now() + _lease_length()
        )


def _send_safely(stream, give_up_at):
    """send_in_order; a bug in this worker becomes failed attempts, not lost ones."""
    try:
        return send_in_order(stream, give_up_at)
    except Exception as error:
        log.exception("Sending webhook messages failed inside the worker")
        problem = type(error).__name__
        reply = http.Reply(error=f"Not sent: the worker failed ({problem}).")
        return [(job, reply) for job in stream], []


def _known_slow(destination_id):
    return _latency.get(destination_id, 0) >= DRAIN_LATENCY


def _is_slow(destination_id):
    """Known to answer slowly, or not heard from yet."""
    return _latency.get(destination_id, DRAIN_LATENCY) >= DRAIN_LATENCY


def _chunk_jobs(destination_id):
    latency = _latency.get(destination_id, UNKNOWN_LATENCY)
    return max(1, int(CHUNK_SECONDS / max(latency, 1e-6)))


def _full_at(destination_id):
    """Jobs waiting that make a destination skipped by claims: a second's worth.

    The same number a claim trims it to, so that a claim which trimmed a
    slow destination skips it next time and reaches the messages behind
    its backlog in the due order.
    """
    latency = _latency.get(destination_id, UNKNOWN_LATENCY)
    return _second_of(destination_id, latency)


def _second_of(destination_id, latency):
    lanes = lane_count(destination_id)
    return max(1, int(QUEUE_SECONDS * lanes / max(latency, 1e-6)))


def has_due():
    return _due(timezone.now()).exists()


def claim_due(limit=None, secrets=None, skip=()):
    """Lease due messages; returns the jobs to send, signed.

    `secrets` may carry the client secrets a previous batch of the same task
    looked up; destinations in `skip` are left out.
    """
    limit = limit or BATCH_SIZE
    now = timezone.now()
    with transaction.atomic():
        due = _lock_due(now, limit, [*skip, *_throttled(now)])
        _attach_destinations(due)
        ready = [message for message in due if _ready(message, now)]
        # Order first: a failing destination's share goes to messages that
        # may be sent, not to ones held behind their stream's first.
        claimable = _within_queue_time(_throttle(_keep_order(ready, now), now))
        _wake_for_the_held_back(due, ready, claimable, now)
        _record_interrupted(claimable, now)
        _lease(claimable, now)
        secrets = secrets or _Secrets()
        secrets.new_batch(now)
        jobs = [_job(message, now, secrets) for message in claimable]
    return jobs


def _lock_due(now, limit, skip):
    """Lock up to `limit` due messages, taking turns across destinations.

    Each destination offers its oldest due messages, no more than a claim
    would take of it (_claim_caps); the batch takes every destination's
    first, then every second, and so on. Taking the oldest due across all
    destinations instead let a slow or failing destination's backlog fill
    every batch, and a fast destination's messages waited minutes behind
    it. SQLite (one worker, a demo) takes them in due order.
    """
    if db.connection.vendor != "postgresql":
        return list(
            _due(now)
            .exclude(destination_id__in=skip)
            .select_related("event")
            .order_by("next_attempt_at")[:limit]
        )
    parameters = {
        "now": now,
        "limit": limit,
        "skip": list(skip),
        "caps": json.dumps(_claim_caps(limit)),
        "failing_share": FAILING_SHARE,
        "open": list(OPEN),
    }
    with db.connection.cursor() as cursor:
        cursor.execute(_fair_claim_sql(), parameters)
        ids = [row[0] for row in cursor.fetchall()]
    found = Message.objects.filter(pk__in=ids).select_related("event").in_bulk()
    return [found[pk] for pk in ids if pk in found]


def _claim_caps(limit):
    """Messages a claim takes of each destination whose answer time is known."""
    return {
        str(destination_id): min(limit, _claimable_jobs(destination_id))
        for destination_id in list(_latency)
    }


@functools.cache
def _fair_claim_sql():
    destination = _quote(Destination._meta.db_table)
    message = _quote(Message._meta.db_table)
    # Ties in due time go in the order the messages were made, which is the
    # order their events were recorded: the index's own order, no sort.
    return f"""
        SELECT picked.id
        FROM {destination} d
        CROSS JOIN LATERAL (
            SELECT locked.id, locked.next_attempt_at,
                row_number() OVER (
                    ORDER BY locked.next_attempt_at, locked.created
                ) AS turn
            FROM (
                SELECT m.id, m.next_attempt_at, m.created
                FROM {message} m
                WHERE m.destination_id = d.id
                    AND m.status = ANY(%(open)s)
                    AND m.next_attempt_at <= %(now)s
                    AND (m.lease_until IS NULL OR m.lease_until < %(now)s)
                ORDER BY m.next_attempt_at, m.created
                LIMIT CASE
                    WHEN d.failing_since IS NOT NULL THEN %(failing_share)s
                    ELSE COALESCE(
                        (%(caps)s::jsonb ->> d.id::text)::int, %(limit)s
                    )
                END
                FOR UPDATE OF m SKIP LOCKED
            ) locked
        ) picked
        WHERE NOT (d.id = ANY(%(skip)s::uuid[]))
        ORDER BY picked.turn, picked.next_attempt_at
        LIMIT %(limit)s
    """


def streams(jobs):
    """The jobs grouped by stream, each group in the order its events were recorded."""
    grouped = {}
    for job in jobs:
        key = stream_of(job.message) or job.message.pk
        grouped.setdefault(key, []).append(job)
    return [sorted(group, key=_recorded) for group in grouped.values()]


def lane_count(destination_id):
    latency = _latency.get(destination_id)
    if latency is None:
        wanted = UNKNOWN_LANES
    else:
        wanted = 1 + int(latency / LANE_LATENCY)
    return max(1, min(settings.WEBHOOK_CONCURRENCY, wanted))


def _note_latency(outcomes):
    for job, reply in outcomes:
        if reply is None:
            continue
        destination_id = job.message.destination_id
        seconds = reply.duration_ms / 1000
        before = _latency.get(destination_id, seconds)
        _latency[destination_id] = before + LATENCY_WEIGHT * (seconds - before)


def stream_of(message):
    """(destination, connection) for a connection's message; None for the rest."""
    connection_id = message.event.connection_id
    if connection_id is None or message.is_test:
        return None
    return (message.destination_id, connection_id)


def send_in_order(jobs, give_up_at=None):
    """Send one stream's jobs one by one: (outcomes, the jobs left untried).

    After a failure the rest are not sent: each is paired with None and put
    back by record_all. Past `give_up_at` (monotonic), after a success, the
    rest are left untried, for a thread to take in its turn: one stream
    to a receiver answering in seconds would otherwise hold a thread, and
    the task, for as many times that.
    """
    outcomes = []
    for position, job in enumerate(jobs):
        if outcomes:
            last = outcomes[-1][1]
            if not (last and last.succeeded):
                outcomes.append((job, None))
                continue
            if give_up_at is not None and time.monotonic() > give_up_at:
                return outcomes, jobs[position:]
        outcomes.append((job, send(job)))
    return outcomes, []


def send(job):
    """The one network step: runs in a pool thread and touches no database."""
    try:
        target = netguard.resolve(job.url)
    except netguard.UnsafeDestination as refused:
        return http.Reply(error=f"Refused: {refused.message}")
    return http.post(target, job.url, job.body, job.headers)


def record_all(outcomes):
    """Record (job, reply) pairs in one transaction, a few queries in all."""
    if not outcomes:
        return
    held = [job for job, reply in outcomes if reply is None]
    outcomes = [(job, reply) for job, reply in outcomes if reply is not None]
    now = timezone.now()
    with transaction.atomic():
        _put_back(held, now)
        for job, reply in outcomes:
            _finish_attempt(job.attempt, reply)
            _settle(job.message, reply, now)
        updated = update_rows([job.message for job, _ in outcomes], _MESSAGE_FIELDS)
        outcomes = _still_there(outcomes, updated)
        insert_attempts([job.attempt for job, _ in outcomes])
        for destination, replies in _by_destination(outcomes).items():
            _update_destination(destination, replies, now)
        _fail_the_disabled(outcomes)
        retries = [
            job.message.next_attempt_at
            for job, _ in outcomes
            if job.message.status == MessageStatus.RETRYING
        ]
        if retries:
            _wake_at(min(retries), now)
    for job, reply in outcomes:
        _log_outcome(job.message, reply)


def _still_there(outcomes, updated):
    """The outcomes whose message still exists (`updated`: the keys saved).

    Deleting a destination deletes its messages, those on the wire too: an
    attempt recorded for one of them would fail the whole group's insert.
    """
    pks = [job.message.pk for job, _ in outcomes]
    if updated is None:  # SQLite: UPDATE returned nothing
        updated = set(Message.objects.filter(pk__in=pks).values_list("pk", flat=True))
    if len(updated) == len(pks):
        return outcomes
    gone = len(pks) - len(updated)
    log.info("%d webhook messages were deleted while being sent; not recorded", gone)
    return [(job, reply) for job, reply in outcomes if job.message.pk in updated]


# Claiming.


def _recorded(item):
    message = getattr(item, "message", item)
    return (message.event.sequence, message.event.created, message.created)


def _attach_destinations(messages):
    """Load each destination once for the batch, not once per message row."""
    destinations = Destination.objects.in_bulk({m.destination_id for m in messages})
    for message in messages:
        message.destination = destinations[message.destination_id]


def _keep_order(messages, now):
    """Hold back messages an earlier open message of their stream must precede.

    An earlier one outside this batch (retrying later, in another worker's
    hands, throttled) holds back the rest of its stream, as does a stream's
    share of the batch being used up. Held messages become due with the
    blocker, or shortly when it is already due or on the wire. A blocker
    that is due and free is claimed in their place: otherwise a claim
    offering a destination only its few oldest due could keep offering
    later messages of a stream, never its first.
    """
    by_stream = {}
    for message in messages:
        key = stream_of(message)
        if key:
            by_stream.setdefault(key, []).append(message)
    if not by_stream:
        return messages

    blockers = _earliest_open_elsewhere(by_stream, messages)
    promoted = _take_due_blockers(blockers, by_stream, now)
    held = []
    for key, stream in by_stream.items():
        stream.sort(key=_recorded)
        if key in promoted:
            # Others of the stream may lie between: these wait for the next
            # claim, in their order (each a microsecond after the one before).
            for position, message in enumerate(stream):
                held.append(message)
                message.next_attempt_at = now + ORDER_WAIT + _IN_ORDER * position
            continue
        blocker = blockers.get(key)
        for position, message in enumerate(stream):
            behind = blocker and _recorded(blocker) < _recorded(message)
            if behind or position >= _stream_share(key[0]):
                held.append(message)
                free_at = _when_free(blocker, now)
                message.next_attempt_at = free_at + _IN_ORDER * position
    if held:
        update_rows(held, ["next_attempt_at"])
        log.debug("Held back %d webhook messages to keep their order", len(held))
    held_keys = {message.pk for message in held}
    kept = [message for message in messages if message.pk not in held_keys]
    return [*promoted.values(), *kept]


def _take_due_blockers(blockers, by_stream, now):
    """Lock the blockers that are due and free; {stream: blocker} of those locked."""
    wanted = {}
    for key, blocker in blockers.items():
        earliest = min(by_stream[key], key=_recorded)
        lease_free = blocker.lease_until is None or blocker.lease_until < now
        due = blocker.next_attempt_at and blocker.next_attempt_at <= now
        if lease_free and due and _recorded(blocker) < _recorded(earliest):
            blocker.destination = earliest.destination
            wanted[blocker.pk] = (key, blocker)
    if not wanted:
        return {}
    lease_free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    locked = (
        Message.objects.select_for_update(skip_locked=True)
        .filter(lease_free, pk__in=wanted, status__in=OPEN, next_attempt_at__lte=now)
        .values_list("pk", flat=True)
    )
    return dict(wanted[pk] for pk in locked)


def _earliest_open_elsewhere(by_stream, claimed):
    """For each stream, its earliest open message not among `claimed`."""
    destinations = {destination for destination, _ in by_stream}
    connections = {connection for _, connection in by_stream}
    others = (
        Message.objects.filter(
            status__in=OPEN,
            is_test=False,
            destination_id__in=destinations,
            event__connection_id__in=connections,
        )
        .exclude(pk__in=[message.pk for message in claimed])
        .select_related("event")
    )
    earliest = {}
    for other in others:
        key = stream_of(other)
        if key in by_stream and (
            key not in earliest or _recorded(other) < _recorded(earliest[key])
        ):
            earliest[key] = other
    return earliest


def _when_free(blocker, now):
    """When a message held behind `blocker` (None: its stream's share) may go.

    Always after the blocker's own due time: claims take each destination's
    oldest due first, so the stream's first message comes before the rest.
    """
    if blocker is None or blocker.lease_until and blocker.lease_until > now:
        return now + ORDER_WAIT
    if blocker.next_attempt_at and blocker.next_attempt_at > now:
        return blocker.next_attempt_at + ORDER_GAP
    return now + ORDER_WAIT


def _stream_share(destination_id):
    """How many of a stream's messages one claim takes: a second's worth, 1 to 50."""
    latency = _latency.get(destination_id, UNKNOWN_LATENCY)
    return max(1, min(STREAM_SHARE, int(QUEUE_SECONDS / max(latency, 1e-6))))


def _due(now):
    lease_free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    return Message.objects.filter(lease_free, status__in=OPEN, next_attempt_at__lte=now)


def _ready(message, now):
    """Whether to send now; settles messages whose destination cannot take them."""
    destination = message.destination
    if not destination.enabled:
        reason = destination.disabled_reason or "The destination is disabled."
        _close(message, MessageStatus.FAILED, f"Not sent: {reason}")
        return False
    paused = destination.paused_until
    if paused and paused > now and not message.is_test:
        message.next_attempt_at = paused + _jitter(timedelta(seconds=5))
        message.save(update_fields=["next_attempt_at"])
        return False
    return True


def _within_queue_time(messages):
    """As many of each destination's streams as it can send in QUEUE_SECONDS.

    The rest are left unclaimed and stay due: a slow receiver's backlog does
    not fill a batch that other destinations' messages could use.
    """
    taken = Counter()
    kept_streams = set()
    kept = []
    for message in messages:
        destination_id = message.destination_id
        stream = stream_of(message) or message.pk
        if stream not in kept_streams:
            if taken[destination_id] >= _claimable_jobs(destination_id):
                continue
            kept_streams.add(stream)
        taken[destination_id] += 1
        kept.append(message)
    return kept


def _claimable_jobs(destination_id):
    latency = _latency.get(destination_id)
    if latency is None:
        return BATCH_SIZE  # not heard from yet: no reason to hold back
    return _second_of(destination_id, latency)


def _throttle(messages, now):
    """A failing destination gets FAILING_SHARE messages per THROTTLE_WAIT.

    Per worker process: claims leave it out until then (_throttled), so
    its backlog neither fills the front of every claim nor gets an attempt
    in each of them; a receiver that answers again gets its backlog at full
    speed once a delivery succeeds. Any more of it in this batch (the fair
    claim takes no more than its share; SQLite's takes any) waits too.
    """
    taken = Counter()
    kept, later = [], []
    for message in messages:
        destination = message.destination
        if destination.failing_since and taken[destination.pk] >= FAILING_SHARE:
            message.next_attempt_at = now + THROTTLE_WAIT
            later.append(message)
            continue
        taken[destination.pk] += 1
        kept.append(message)
    update_rows(later, ["next_attempt_at"])
    # Only a backlog is held back: a retry or a resend on its own goes.
    used_up = {
        m.destination_id
        for m in kept
        if m.destination.failing_since and taken[m.destination_id] >= FAILING_SHARE
    }
    for destination_id in used_up:
        _throttled_until[destination_id] = now + THROTTLE_WAIT
    if used_up:
        _wake_at(now + THROTTLE_WAIT, now)
    return kept


# Failing destinations this process leaves out of claims until then.
_throttled_until = {}


def _throttled(now):
    for destination_id, until in list(_throttled_until.items()):
        if until <= now:
            _throttled_until.pop(destination_id, None)
    return list(_throttled_until)


def _wake_for_the_held_back(due, ready, claimable, now):
    """Queue a task for when messages held back now may go.

    Without it they would wait for the next event, retry or sweep.
    """
    # Sets of primary keys: `in` on model lists compares rows one by one.
    claimed = {m.pk for m in claimable}
    left = [m for m in due if m.pk not in claimed]
    if not left:
        return
    wake_at = [m.next_attempt_at for m in left if m.next_attempt_at]
    wake_at = [when for when in wake_at if when > now]
    ready_keys = {m.pk for m in ready}
    if any(m.pk in ready_keys and m.next_attempt_at <= now for m in left):
        wake_at.append(now + THROTTLE_WAIT)
    if wake_at:
        _wake_at(min(wake_at), now)


def _wake_at(when, now):
    """Queue a task for `when`, unless this process queued one due by then.

    Retries, held-back messages and put-back streams all need a task when
    they fall due; one per message flooded the task queue (a thousand a
    minute against a receiver failing everything). One task a time is
    enough: whatever it does not find due, its run queues the next for
    (_wake_for_next_retry), and the sweep covers a task lost with a worker.
    """
    global _wake_queued_for
    if _wake_queued_for is not None and now < _wake_queued_for <= when:
        return
    _wake_queued_for = when
    schedule(run_after=when)


# When the last wake-up task this process queued is due.
_wake_queued_for = None


def _wake_for_next_retry(now):
    """Queue a task for the earliest open message not due yet, if any.

    And for when a throttled destination may go again: its messages are
    due already, so no due time calls for a task then.
    """
    upcoming = (
        Message.objects.filter(status__in=OPEN, next_attempt_at__gt=now)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    throttled = [until for until in _throttled_until.values() if until > now]
    wake_at = [when for when in (upcoming, *throttled) if when is not None]
    if wake_at:
        _wake_at(min(wake_at), now)


def _record_interrupted(messages, now):
    """Write the attempt a dead worker held but never recorded.

    Attempts are written with their outcome, in the transaction that settles
    the message and clears its lease; a lease still set when a message is
    claimed again means the worker died holding it, before or while sending.
    Which, nobody knows: the attempt says so, is not counted as sent on the
    Webhooks page, and does not use up a step of the retry schedule.
    """
    interrupted = [
        message
        for message in messages
        if message.lease_until is not None and message.attempt_count
    ]
    if not interrupted:
        return
    insert_attempts(
        [
            Attempt(
                message=message,
                number=message.attempt_count,
                started_at=message.last_attempt_at or now,
                error=INTERRUPTED,
            )
            for message in interrupted
        ]
    )
    for message in interrupted:
        message.cycle_start += 1
    update_rows(interrupted, ["cycle_start"])


def _lease(messages, now):
    """One UPDATE for the batch: count the attempt and hold the messages.

    The lease is renewed while the message is on the wire (_Flight), so it
    need only outlast a renewal interval and a request; a worker that dies
    lets it run out within _lease_length().
    """
    lease_until = now + _lease_length()
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(
        attempt_count=F("attempt_count") + 1,
        lease_until=lease_until,
        last_attempt_at=now,
    )
    for message in messages:
        message.attempt_count += 1
        message.lease_until = lease_until
        message.last_attempt_at = now


def _job(message, now, secrets):
    body = events.body(message.event)
    headers = _headers(message, body, now, secrets)
    attempt = Attempt(
        message=message,
        number=message.attempt_count,
        started_at=now,
        request_headers=headers,
    )
    return Job(message, attempt, message.destination.url, body, headers)


def _headers(message, body, now, secrets):
    destination = message.destination
    signed = signing.headers(
        message_id=message.event_id,
        body=body,
        secrets=secrets.destination(destination),
        client_secret=secrets.client(destination),
        now=now,
    )
    fixed = {"Content-Type": "application/json", "User-Agent": http.USER_AGENT}
    return {**fixed, **signed}


class _Secrets:
    """Signing secrets: destinations' once per batch, client secrets once per task.

    A client secret regenerated while a task runs signs its remaining
    batches (seconds) with the old one; the receiver refuses them and they
    are retried with the new one.
    """

    def __init__(self):
        self.now = None
        self._clients = {}
        self._destinations = {}

    def new_batch(self, now):
        self.now = now
        self._destinations = {}

    def client(self, destination):
        key = (destination.organisation_id, destination.environment)
        if key not in self._clients:
            self._clients[key] = _client_secret(*key)
        return self._clients[key]

    def destination(self, destination):
        if destination.pk not in self._destinations:
            found = signing.signing_secrets(destination, self.now)
            self._destinations[destination.pk] = found
        return self._destinations[destination.pk]


def _client_secret(organisation_id, environment):
    key = ApiKey.objects.filter(
        organisation_id=organisation_id, environment=environment
    ).first()
    if key is None:
        log.warning(
            "No API key for organisation %s %s: X-Rutter-Signature left out",
            organisation_id,
            environment,
        )
        return None
    return key.secret()


def _deadline():
    return timedelta(seconds=settings.WEBHOOK_TOTAL_TIMEOUT)


def _lease_length():
    return _deadline() * 2 + LEASE_MARGIN


# Recording.

_MESSAGE_FIELDS = [
    "status",
    "next_attempt_at",
    "last_status_code",
    "last_error",
    "lease_until",
]


def _put_back(jobs, now):
    """Undo the claim of jobs not sent because an earlier one of their stream failed.

    They are due again shortly; claiming then holds them behind the failed
    message's retry.
    """
    if not jobs:
        return
    again = now + THROTTLE_WAIT
    release(jobs, next_attempt_at=again)
    _wake_at(again, now)


def release(jobs, **changes):
    """Undo the claim of jobs never sent; their messages stay due as they were
    unless `changes` says otherwise."""
    if not jobs:
        return
    latest = Attempt.objects.filter(message=OuterRef("pk")).order_by("-number")
    Message.objects.filter(pk__in=[job.message.pk for job in jobs]).update(
        attempt_count=F("attempt_count") - 1,
        last_attempt_at=Subquery(latest.values("started_at")[:1]),
        lease_until=None,
        **changes,
    )


def _finish_attempt(attempt, reply):
    attempt.duration_ms = reply.duration_ms
    attempt.status_code = reply.status_code
    attempt.response_headers = reply.headers
    attempt.response_excerpt = reply.body.decode("utf-8", errors="replace")
    attempt.error = reply.error


def _settle(message, reply, now):
    message.last_status_code = reply.status_code
    message.lease_until = None
    if reply.succeeded:
        message.status = MessageStatus.SUCCEEDED
        message.next_attempt_at = None
        message.last_error = ""
        return

    problem = _problem(reply)
    delay = None if message.is_test else _retry_delay(message, reply)
    if reply.status_code == GONE or delay is None:
        outcome = _why_not_retried(message, reply)
        _close(message, MessageStatus.FAILED, cut(problem, outcome), save=False)
        return

    message.status = MessageStatus.RETRYING
    message.next_attempt_at = now + delay
    message.last_error = cut(problem)


def _why_not_retried(message, reply):
    if reply.status_code == GONE:
        return "Not retried."
    if message.is_test:
        return "Test events are not retried."
    tries = message.attempt_count - message.cycle_start
    return f"Gave up after {tries} attempts."


def _close(message, status, error, save=True):
    message.status = status
    message.next_attempt_at = None
    message.lease_until = None
    message.last_error = cut(error)
    if save:
        message.save(update_fields=_MESSAGE_FIELDS)


def cut(problem, outcome=""):
    """`problem` then `outcome`, within ERROR_LENGTH: a long problem loses its end."""
    room = ERROR_LENGTH - (len(outcome) + 1 if outcome else 0)
    if len(problem) > room:
        problem = problem[: room - 1] + "…"
    return f"{problem} {outcome}" if outcome else problem


def _problem(reply):
    """What went wrong, as whole sentences (more may be appended)."""
    if reply.status_code is None:
        error = reply.error.rstrip()
        return error if error.endswith((".", "!", "?")) else f"{error}."
    if 300 <= reply.status_code < 400:
        location = reply.headers.get("location", "")
        where = f" to {location}" if location else ""
        return (
            f"The receiver answered {reply.status_code}, a redirect{where}; "
            "redirects are not followed."
        )
    return f"The receiver answered {reply.status_code}."


def _retry_delay(message, reply):
    """The wait before the next try, or None once the schedule is used up."""
    delays = settings.WEBHOOK_RETRY_DELAYS
    tried = message.attempt_count - message.cycle_start
    if tried > len(delays):
        return None
    delay = _jitter(timedelta(seconds=delays[tried - 1]))
    asked = retry_after(reply, cap=max(delays))
    return max(delay, asked) if asked else delay


def retry_after(reply, cap):
    """The receiver's Retry-After as a timedelta, bounded by `cap` seconds."""
    value = (reply.headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        seconds = int(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - timezone.now()).total_seconds()
    return timedelta(seconds=min(max(seconds, 0), cap))


def _jitter(delay):
    return delay * (1 + random.uniform(0, RETRY_JITTER))


def update_rows(rows, field_names):
    """Save these fields of many rows of one model in a single UPDATE.

    Returns the primary keys of the rows it found on PostgreSQL (None on
    SQLite).

    Django's bulk_update builds a CASE per field and row, which costs more
    CPU than the delivery itself; UPDATE ... FROM (VALUES ...) does not.
    On PostgreSQL the rows travel as one JSON document, so the driver
    quotes one string instead of every value. Also works on SQLite (3.33+).
    """
    if not rows:
        return
    model = type(rows[0])
    fields = [model._meta.get_field(name) for name in field_names]
    primary_key = model._meta.pk
    table = _quote(model._meta.db_table)
    if db.connection.vendor == "postgresql":
        sets = ", ".join(
            f"{_quote(field.column)} = v.{_quote(field.column)}" for field in fields
        )
        source, values = _recordset(rows, [primary_key, *fields])
        key = _quote(primary_key.column)
        sql = (
            f"UPDATE {table} SET {sets} FROM {source} "
            f"WHERE {table}.{key} = v.{key} RETURNING {table}.{key}"
        )
        with db.connection.cursor() as cursor:
            cursor.execute(sql, values)
            return {row[0] for row in cursor.fetchall()}

    columns = [primary_key, *fields]
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    values = [
        field.get_db_prep_save(getattr(row, field.attname), db.connection)
        for row in rows
        for field in columns
    ]
    sets = ", ".join(
        f"{_quote(field.column)} = CAST(v.column{number} AS "
        f"{field.cast_db_type(db.connection)})"
        for number, field in enumerate(fields, start=2)
    )
    key = f"CAST(v.column1 AS {primary_key.cast_db_type(db.connection)})"
    sql = (
        f"UPDATE {table} SET {sets} "
        f"FROM (VALUES {', '.join([placeholders] * len(rows))}) AS v "
        f"WHERE {table}.{_quote(primary_key.column)} = {key}"
    )
    with db.connection.cursor() as cursor:
        cursor.execute(sql, values)


_ATTEMPT_INSERT_FIELDS = [
    "message",
    "number",
    "started_at",
    "duration_ms",
    "status_code",
    "request_headers",
    "response_headers",
    "response_excerpt",
    "error",
]


def insert_attempts(attempts):
    """Insert new attempts in one statement and give each its primary key.

    On PostgreSQL the rows go as one JSON document (see update_rows);
    elsewhere bulk_create does it.
    """
    if not attempts:
        return
    if db.connection.vendor != "postgresql":
        Attempt.objects.bulk_create(attempts)
        return
    fields = [Attempt._meta.get_field(name) for name in _ATTEMPT_INSERT_FIELDS]
    columns = ", ".join(_quote(field.column) for field in fields)
    source, values = _recordset(attempts, fields)
    table = _quote(Attempt._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {source} "
        f"RETURNING {_quote(Attempt._meta.pk.column)}, message_id, number"
    )
    by_key = {(attempt.message_id, attempt.number): attempt for attempt in attempts}
    with db.connection.cursor() as cursor:
        cursor.execute(sql, values)
        for pk, message_id, number in cursor.fetchall():
            attempt = by_key[(message_id, number)]
            attempt.pk = pk
            attempt._state.adding = False
            attempt._state.db = db.connection.alias


def _recordset(rows, fields):
    """`jsonb_to_recordset(...) AS v(...)` over these fields, and its parameter."""
    columns = ", ".join(
        f"{_quote(field.column)} {field.cast_db_type(db.connection)}"
        for field in fields
    )
    document = json.dumps(
        [
            {field.column: getattr(row, field.attname) for field in fields}
            for row in rows
        ],
        default=_json_value,
    )
    return f"jsonb_to_recordset(%s::jsonb) AS v({columns})", [document]


def _json_value(value):
    """Datetimes and UUIDs as text PostgreSQL reads back exactly."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _quote(name):
    return db.connection.ops.quote_name(name)


def _by_destination(outcomes):
    """Each destination's replies in the order they came, test events left out."""
    replies = {}
    for job, reply in outcomes:
        if not job.message.is_test:
            replies.setdefault(job.message.destination, []).append(reply)
    return replies


def _update_destination(destination, replies, now):
    """Keep the destination's health fields; the latest reply sets most of them."""
    latest = replies[-1]
    rows = Destination.objects.filter(pk=destination.pk)
    health = {
        "last_attempt_at": now,
        "last_status_code": latest.status_code,
        "last_error": "" if latest.succeeded else cut(_problem(latest)),
    }
    if any(reply.succeeded for reply in replies):
        health["last_success_at"] = now
    if latest.succeeded:
        rows.update(**health, failing_since=None, paused_until=None)
        _throttled_until.pop(destination.pk, None)
        return

    pause = _pause(latest, now)
    if pause:
        health["paused_until"] = pause
    rows.update(
        **health,
        last_failure_at=now,
        failing_since=Coalesce(F("failing_since"), Value(now)),
    )
    destination.refresh_from_db()
    gone = [reply for reply in replies if reply.status_code == GONE]
    if gone:
        when = f"{now:%Y-%m-%d %H:%M} UTC"
        disable(destination, f"The receiver answered 410 Gone on {when}.")
    elif now - destination.failing_since >= _disable_after():
        disable(destination, _failing_reason(destination, latest))


def _pause(reply, now):
    """Hold the destination's other messages after a dead or throttling receiver."""
    asked = retry_after(reply, cap=max(settings.WEBHOOK_RETRY_DELAYS))
    if asked:
        return now + asked
    if reply.status_code is None:
        return now + timedelta(seconds=settings.WEBHOOK_RETRY_DELAYS[0])
    return None


def _disable_after():
    return timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER)


def _failing_reason(destination, reply):
    since = destination.failing_since
    return cut(
        f"Every delivery failed since {since:%Y-%m-%d %H:%M} UTC; "
        f"the last: {_problem(reply)}"
    )


def disable(destination, reason):
    """Disable a destination automatically, say why, and tell its admins."""
    updated = Destination.objects.filter(pk=destination.pk, enabled=True).update(
        enabled=False,
        disabled_reason=cut(reason),
        disabled_at=timezone.now(),
    )
    if not updated:
        return
    from webhooks.services import fail_open_messages

    failed = fail_open_messages(destination, reason)
    log.info(
        "Webhook destination %s disabled (%d waiting messages failed): %s",
        destination.pk,
        failed,
        reason,
    )
    transaction.on_commit(lambda: _email_admins(destination, reason))


def _fail_the_disabled(outcomes):
    """Close what failed on the wire to a destination disabled meanwhile.

    Its retries would otherwise wait hours before a claim closed them.
    """
    failed_to = {
        job.message.destination_id for job, reply in outcomes if not reply.succeeded
    }
    if not failed_to:
        return
    from webhooks.services import fail_open_messages

    disabled = Destination.objects.filter(pk__in=failed_to, enabled=False)
    for destination in disabled.only("pk", "disabled_reason"):
        fail_open_messages(destination, destination.disabled_reason)


def _email_admins(destination, reason):
    admins = Membership.objects.filter(
        organisation_id=destination.organisation_id, role=Role.ADMIN
    )
    recipients = list(admins.values_list("user__email", flat=True))
    if not recipients:
        return
    send_mail(
        subject=f"Webhook destination disabled: {destination.url}",
        message=(
            f"Rutterdash stopped sending {destination.environment} webhooks "
            f"to {destination.url}.\n\nReason: {reason}\n\n"
            f"Fix the receiver, then enable the destination again and replay "
            f"the failed messages: {settings.SITE_URL}/webhooks/\n"
        ),
        from_email=None,
        recipient_list=recipients,
    )


def _log_outcome(message, reply):
    if reply.succeeded:
        log.debug(
            "Webhook %s delivered to %s", message.event_id, message.destination_id
        )
        return
    log.warning(
        "Webhook %s to destination %s failed (attempt %s): %s",
        message.event_id,
        message.destination_id,
        message.attempt_count,
        _problem(reply),
    )


# Scheduling.


def _make_due(messages):
    """Start a new cycle with the full retry schedule, due now."""
    return messages.update(
        status=MessageStatus.PENDING,
        next_attempt_at=timezone.now(),
        cycle_start=F("attempt_count"),
        last_error="",
    )


def enqueue(run_after=None):
    """Queue a delivery task now, outside any transaction's bookkeeping.

    Not if one is queued already to start by then (_delivery_queued_by): a
    task per event or retry filled the task table while a receiver kept
    failing.
    """
    from webhooks.tasks import deliver_due

    if _delivery_queued_by(deliver_due, run_after or timezone.now()):
        return
    task_queue.enqueue(deliver_due, run_after=run_after)


def _delivery_queued_by(deliver_due, when):
    """Whether a delivery task waits to start at `when` or sooner.

    It claims after it starts, so it sees everything committed before now;
    what falls due after it ran is queued for by its own end
    (_wake_for_next_retry).
    """
    if not isinstance(deliver_due.get_backend(), DatabaseBackend):
        return False
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.READY,
        task_path=deliver_due.module_path,
        run_after__lte=when,
    ).exists()
