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
import json
import logging
import random
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta

from django import db
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import ApiKey, Membership, Role
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
LATENCY_WEIGHT = 0.2
# Seconds between thread switches while requests are out (Python's is 0.005).
SWITCH_INTERVAL = 0.0005
RETRY_JITTER = 0.1
FAILING_SHARE = 2
# Messages of one stream sent in a batch; they go one after another.
STREAM_SHARE = 5
THROTTLE_WAIT = timedelta(seconds=5)
# Outcomes are written at least this often (seconds) while a batch is out.
FLUSH_EVERY = 0.5
ERROR_LENGTH = 300
OPEN = (MessageStatus.PENDING, MessageStatus.RETRYING)
GONE = 410
INTERRUPTED = "The worker stopped before it recorded a response; sent again."


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
    """Deliver due messages batch after batch; returns how many were claimed.

    The next batch is claimed while the previous one is on the wire, so
    database work and requests overlap.
    """
    claimed = 0
    secrets = _Secrets()
    hand_over_at = time.monotonic() + TASK_SECONDS
    with _Flight() as flight:
        while True:
            jobs = claim_due(secrets=secrets)
            flight.launch(jobs)
            claimed += len(jobs)
            if len(jobs) < BATCH_SIZE:
                break
            if time.monotonic() >= hand_over_at:
                schedule()  # more may be due: a fresh task lets other work in
                break
            flight.record_until_at_most(len(jobs))
    return claimed


def deliver_due(limit=BATCH_SIZE):
    """Claim up to `limit` due messages, send them concurrently, record outcomes."""
    jobs = claim_due(limit)
    with _Flight() as flight:
        flight.launch(jobs)
    return len(jobs)


class _Flight:
    """Requests on the wire in a thread pool; outcomes recorded in this thread.

    While requests are out, this thread renews their leases, and Python
    switches threads more often than its default 5 ms: a sending thread
    whose answer has arrived would otherwise wait for the GIL while this
    thread builds the next batch.
    """

    def __init__(self):
        self.pool = ThreadPoolExecutor(max_workers=settings.WEBHOOK_CONCURRENCY)
        self.pending = {}
        self.pending_jobs = 0
        self.renewed_at = time.monotonic()
        self.switch_interval = None

    def __enter__(self):
        self.switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self.switch_interval, SWITCH_INTERVAL))
        return self

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                self.record_until_at_most(0)
        finally:
            self.pool.shutdown(wait=True)
            sys.setswitchinterval(self.switch_interval)

    def launch(self, jobs):
        for lane in lanes(jobs):
            self.pending[self.pool.submit(send_lane, lane)] = lane
            self.pending_jobs += sum(len(stream) for stream in lane)

    def record_until_at_most(self, count):
        """Record outcomes as they arrive until at most `count` jobs are pending."""
        while self.pending_jobs > count:
            # Outcomes are written in groups, at most FLUSH_EVERY apart.
            done, _ = wait(self.pending, timeout=FLUSH_EVERY)
            outcomes = []
            for future in done:
                lane = self.pending.pop(future)
                self.pending_jobs -= sum(len(stream) for stream in lane)
                outcomes.extend(future.result())
            record_all(outcomes)
            self._renew_leases()

    def _renew_leases(self):
        if time.monotonic() - self.renewed_at < _lease_length().total_seconds() / 4:
            return
        self.renewed_at = time.monotonic()
        on_the_wire = [
            job.message.pk
            for lane in self.pending.values()
            for stream in lane
            for job in stream
        ]
        Message.objects.filter(pk__in=on_the_wire, lease_until__isnull=False).update(
            lease_until=timezone.now() + _lease_length()
        )


def has_due():
    return _due(timezone.now()).exists()


def claim_due(limit=None, secrets=None):
    """Lease due messages; returns the jobs to send, signed.

    `secrets` may carry the client secrets a previous batch of the same task
    looked up.
    """
    limit = limit or BATCH_SIZE
    now = timezone.now()
    with transaction.atomic():
        due = list(
            _due(now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("event")
            # Due time alone, so the partial index serves it without a sort;
            # a stream's own order is kept by _keep_order.
            .order_by("next_attempt_at")[:limit]
        )
        _attach_destinations(due)
        ready = [message for message in due if _ready(message, now)]
        claimable = _keep_order(_throttle(ready), now)
        _wake_for_the_held_back(due, ready, claimable, now)
        _record_interrupted(claimable, now)
        _lease(claimable, now)
        secrets = secrets or _Secrets()
        secrets.new_batch(now)
        jobs = [_job(message, now, secrets) for message in claimable]
    return jobs


def streams(jobs):
    """The jobs grouped by stream, each group in the order its events were recorded."""
    grouped = {}
    for job in jobs:
        key = stream_of(job.message) or job.message.pk
        grouped.setdefault(key, []).append(job)
    return [sorted(group, key=_recorded) for group in grouped.values()]


def lanes(jobs):
    """The jobs as lanes: each lane is streams one thread sends one after another.

    A destination gets as many lanes as its answers are slow: against a
    receiver answering in a fraction of a millisecond one thread keeps up
    and more only fight over the GIL; one 200 ms away needs many requests
    in flight. A destination not heard from yet in this process gets
    UNKNOWN_LANES.
    """
    by_destination = {}
    for stream in streams(jobs):
        by_destination.setdefault(stream[0].message.destination_id, []).append(stream)
    result = []
    for destination_id, its_streams in by_destination.items():
        count = min(lane_count(destination_id), len(its_streams))
        result.extend(its_streams[start::count] for start in range(count))
    return result


def lane_count(destination_id):
    latency = _latency.get(destination_id)
    if latency is None:
        wanted = UNKNOWN_LANES
    else:
        wanted = 1 + int(latency / LANE_LATENCY)
    return max(1, min(settings.WEBHOOK_CONCURRENCY, wanted))


def _note_latency(outcomes):
    for job, reply in outcomes:
        destination_id = job.message.destination_id
        seconds = reply.duration_ms / 1000
        before = _latency.get(destination_id, seconds)
        _latency[destination_id] = before + LATENCY_WEIGHT * (seconds - before)


def send_lane(lane):
    """Send a lane's streams one after another; returns every (job, reply)."""
    outcomes = []
    for stream in lane:
        outcomes.extend(send_in_order(stream))
    return outcomes


def stream_of(message):
    """(destination, connection) for a connection's message; None for the rest."""
    connection_id = message.event.connection_id
    if connection_id is None or message.is_test:
        return None
    return (message.destination_id, connection_id)


def send_in_order(jobs):
    """Send one stream's jobs one by one; after a failure the rest are not sent.

    A job not sent is paired with None and put back by record_all.
    """
    outcomes = []
    for job in jobs:
        stopped = outcomes and not (outcomes[-1][1] and outcomes[-1][1].succeeded)
        outcomes.append((job, None if stopped else send(job)))
    return outcomes


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
    _note_latency(outcomes)
    now = timezone.now()
    with transaction.atomic():
        _put_back(held, now)
        for job, reply in outcomes:
            _finish_attempt(job.attempt, reply)
            _settle(job.message, reply, now)
        insert_attempts([job.attempt for job, _ in outcomes])
        update_rows([job.message for job, _ in outcomes], _MESSAGE_FIELDS)
        for destination, replies in _by_destination(outcomes).items():
            _update_destination(destination, replies, now)
    for job, reply in outcomes:
        _log_outcome(job.message, reply)


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
    blocker, or shortly when it is already due or on the wire.
    """
    by_stream = {}
    for message in messages:
        key = stream_of(message)
        if key:
            by_stream.setdefault(key, []).append(message)
    if not by_stream:
        return messages

    blockers = _earliest_open_elsewhere(by_stream, messages)
    held = []
    for key, stream in by_stream.items():
        stream.sort(key=_recorded)
        blocker = blockers.get(key)
        for position, message in enumerate(stream):
            behind = blocker and _recorded(blocker) < _recorded(message)
            if behind or position >= STREAM_SHARE:
                held.append(message)
                message.next_attempt_at = _when_free(blocker, now)
    if held:
        update_rows(held, ["next_attempt_at"])
        log.debug("Held back %d webhook messages to keep their order", len(held))
    held_keys = {message.pk for message in held}
    return [message for message in messages if message.pk not in held_keys]


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
    if blocker is None or blocker.lease_until and blocker.lease_until > now:
        return now + THROTTLE_WAIT
    if blocker.next_attempt_at and blocker.next_attempt_at > now:
        return blocker.next_attempt_at
    return now + THROTTLE_WAIT


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


def _throttle(messages):
    """A failing destination gets FAILING_SHARE messages a batch, not every thread.

    The rest stay due for a later batch; a receiver that answers again gets
    its backlog at full speed once a delivery succeeds.
    """
    taken = Counter()
    kept = []
    for message in messages:
        destination = message.destination
        if destination.failing_since and taken[destination.pk] >= FAILING_SHARE:
            continue
        taken[destination.pk] += 1
        kept.append(message)
    return kept


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
        schedule(run_after=min(wake_at))


def _record_interrupted(messages, now):
    """Write the attempt a dead worker made but never recorded.

    Attempts are written with their outcome, in the transaction that settles
    the message and clears its lease; a lease still set when a message is
    claimed again means its last attempt's outcome was never written.
    """
    interrupted = [
        Attempt(
            message=message,
            number=message.attempt_count,
            started_at=message.last_attempt_at or now,
            error=INTERRUPTED,
        )
        for message in messages
        if message.lease_until is not None and message.attempt_count
    ]
    insert_attempts(interrupted)


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
    latest = Attempt.objects.filter(message=OuterRef("pk")).order_by("-number")
    Message.objects.filter(pk__in=[job.message.pk for job in jobs]).update(
        attempt_count=F("attempt_count") - 1,
        last_attempt_at=Subquery(latest.values("started_at")[:1]),
        lease_until=None,
        next_attempt_at=again,
    )
    schedule(run_after=again)


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
        _close(message, MessageStatus.FAILED, f"{problem} {outcome}", save=False)
        return

    message.status = MessageStatus.RETRYING
    message.next_attempt_at = now + delay
    message.last_error = problem[:ERROR_LENGTH]
    schedule(run_after=message.next_attempt_at)


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
    message.last_error = error[:ERROR_LENGTH]
    if save:
        message.save(update_fields=_MESSAGE_FIELDS)


def _problem(reply):
    if reply.status_code is None:
        return reply.error
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
        sql = f"UPDATE {table} SET {sets} FROM {source} WHERE {table}.{key} = v.{key}"
        with db.connection.cursor() as cursor:
            cursor.execute(sql, values)
        return

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
        "last_error": "" if latest.succeeded else _problem(latest)[:ERROR_LENGTH],
    }
    if any(reply.succeeded for reply in replies):
        health["last_success_at"] = now
    if latest.succeeded:
        rows.update(**health, failing_since=None, paused_until=None)
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
    return (
        f"Every delivery failed since {since:%Y-%m-%d %H:%M} UTC; "
        f"the last: {_problem(reply)}"
    )[:ERROR_LENGTH]


def disable(destination, reason):
    """Disable a destination automatically, say why, and tell its admins."""
    updated = Destination.objects.filter(pk=destination.pk, enabled=True).update(
        enabled=False,
        disabled_reason=reason[:ERROR_LENGTH],
        disabled_at=timezone.now(),
    )
    if not updated:
        return
    log.info("Webhook destination %s disabled: %s", destination.pk, reason)
    transaction.on_commit(lambda: _email_admins(destination, reason))


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
    """Queue a delivery task now, outside any transaction's bookkeeping."""
    from webhooks.tasks import deliver_due

    task = deliver_due.using(run_after=run_after) if run_after else deliver_due
    task.enqueue()
