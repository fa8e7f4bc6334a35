"""What people do with webhook destinations and their messages.

The dashboard and the configs API both call these functions; delivery
itself (signing, sending, retrying) lives in webhooks.delivery.
"""

import logging
from datetime import UTC, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from webhooks import delivery, netguard, outbox, signing
from webhooks.models import Attempt, Destination, Message, MessageStatus

log = logging.getLogger(__name__)

STRIP_HOURS = 24
FINISHED = (MessageStatus.SUCCEEDED, MessageStatus.FAILED)
OPEN = (MessageStatus.PENDING, MessageStatus.RETRYING)
DESTINATION_DISABLED = "Enable this destination before sending to it again."
STATUS_FIELDS = [
    "enabled",
    "disabled_reason",
    "disabled_at",
    "failing_since",
    "paused_until",
    "updated",
]
SECRET_FIELDS = [
    "secret_encrypted",
    "previous_secret_encrypted",
    "previous_secret_expires_at",
    "updated",
]
DISABLED_BY_MEMBER = "Disabled by a team member."
STILL_DELIVERING = (
    "This message is still being delivered; resend it once it has succeeded or failed."
)


class DestinationRefused(Exception):
    """A destination's settings cannot be saved; the message says why."""


class SendRefused(Exception):
    """A message cannot be sent now; the message says why."""


def check_url(url):
    """Refuse addresses we must not send to, before anything is saved.

    Plain http:// is refused unless WEBHOOK_ALLOW_HTTP (on only for local
    development), in sandbox and production alike.
    """
    try:
        netguard.check_url(url)
    except netguard.UnsafeDestination as refusal:
        raise DestinationRefused(str(refusal)) from None


def relaxed_url_rules():
    """The server's switches that loosen which URLs are accepted, for a warning."""
    relaxed = []
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        relaxed.append(
            ("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "private and loopback addresses")
        )
    if settings.WEBHOOK_ALLOW_HTTP:
        relaxed.append(("WEBHOOK_ALLOW_HTTP", "plain http:// URLs"))
    return relaxed


def destination_create(scope, url, **fields):
    check_url(url)
    destination = scope.stamp(Destination(url=url, **fields))
    destination.secret_encrypted = signing.encrypt(signing.new_secret())
    destination.save()

    log.info("Webhook destination %s created", destination.pk)
    return destination


def destination_update(destination, **fields):
    """Save a destination's settings.

    Turning it off fails its open messages as destination_disable() does;
    how many is left in `destination.failed_on_disable` for the page to say.
    """
    if fields.get("url", destination.url) != destination.url:
        check_url(fields["url"])
    was_enabled = destination.enabled
    destination.failed_on_disable = None

    for name, value in fields.items():
        setattr(destination, name, value)
    changed = [*fields, "updated"]
    if destination.enabled and not was_enabled:
        _clear_failure(destination)
        changed += STATUS_FIELDS
    if was_enabled and not destination.enabled:
        _mark_disabled(destination, DISABLED_BY_MEMBER)
        changed += STATUS_FIELDS
    with transaction.atomic():
        # Only what changed: the worker keeps the health fields up to date.
        destination.save(update_fields=set(changed))
        if was_enabled and not destination.enabled:
            destination.failed_on_disable = fail_open_messages(
                destination, destination.disabled_reason
            )
    return destination


def destination_disable(destination, reason=""):
    """Stop sending to a destination; returns how many open messages it failed.

    Its backlog is failed at once, all of it, rather than whenever a worker
    happens to look at it: the page says how many, and "Replay failed
    messages" sends them once the destination is enabled again.
    """
    _mark_disabled(destination, reason or DISABLED_BY_MEMBER)
    with transaction.atomic():
        destination.save(update_fields=STATUS_FIELDS)
        failed = fail_open_messages(destination, destination.disabled_reason)
    log.info(
        "Webhook destination %s disabled; %d open messages failed",
        destination.pk,
        failed,
    )
    return failed


DISABLED_REASON = "the destination is disabled."


def fail_open_messages(destination, reason):
    """Close every open message of a destination that no worker holds, as FAILED.

    One UPDATE: pending and retrying messages whose lease is unset or has run
    out become failed with last_error "Not sent: <reason>" and no next
    attempt. Messages a worker holds (on the wire) are left to finish. A
    worker's claim locks the rows it takes (FOR UPDATE SKIP LOCKED), so a
    message claimed meanwhile is either leased, and left alone, or failed
    here, never both. An expired lease is kept, so a replay still records
    the attempt the dead worker held. Returns how many were failed.

    `destination` is a Destination or its primary key.
    """
    destination_id = getattr(destination, "pk", destination)
    unleased = Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now())
    return Message.objects.filter(
        unleased, destination_id=destination_id, status__in=OPEN
    ).update(
        status=MessageStatus.FAILED,
        next_attempt_at=None,
        last_error=delivery.cut(f"Not sent: {reason or DISABLED_REASON}"),
    )


def destination_enable(destination):
    """Send to a destination again; False if it was enabled already.

    Enabling after a disable (by a person, the API or automatically) is the
    admin saying the receiver is fixed: the failure clock starts over, so
    "Failing since" and any pause are cleared. Enabling one that is already
    enabled (a second click, an old tab) changes nothing, and in particular
    does not restart the clock of a destination that is failing.
    """
    if destination.enabled:
        return False
    destination.enabled = True
    _clear_failure(destination)
    destination.save(update_fields=STATUS_FIELDS)
    log.info("Webhook destination %s enabled", destination.pk)
    return True


def _mark_disabled(destination, reason):
    destination.enabled = False
    destination.disabled_reason = reason
    destination.disabled_at = timezone.now()


def _clear_failure(destination):
    # A fresh start: the failure clock that disabled it starts over.
    destination.disabled_reason = ""
    destination.disabled_at = None
    destination.failing_since = None
    destination.paused_until = None


def destination_delete(destination):
    """Delete a destination with its messages and their attempts.

    Django's cascade would load every message to find its attempts (4 s
    for 33,000 messages); locking the messages, then one DELETE per table,
    does the same in a fraction of that. The lock keeps the worker from
    claiming one of them meanwhile.
    """
    destination_id = destination.pk
    messages = Message.objects.filter(destination=destination)
    with transaction.atomic():
        list(messages.select_for_update().values_list("pk", flat=True))
        Attempt.objects.filter(message__destination=destination).delete()
        messages._raw_delete(messages.db)
        destination.delete()
    log.info("Webhook destination %s deleted", destination_id)


def default_overlap():
    return timedelta(seconds=settings.WEBHOOK_SIGNATURE_OVERLAP)


def rotate_secret(destination, overlap=None):
    """A new signing secret; the old one is still used until the overlap ends."""
    overlap = default_overlap() if overlap is None else overlap
    if overlap > timedelta(0):
        destination.previous_secret_encrypted = destination.secret_encrypted
        destination.previous_secret_expires_at = timezone.now() + overlap
    else:
        destination.previous_secret_encrypted = ""
        destination.previous_secret_expires_at = None
    destination.secret_encrypted = signing.encrypt(signing.new_secret())
    destination.save(update_fields=SECRET_FIELDS)

    log.info("Webhook destination %s secret rotated", destination.pk)
    return destination


def reveal_secret(destination, membership):
    if not membership.is_admin:
        raise PermissionDenied("Only admins can see signing secrets.")
    log.info(
        "Webhook destination %s secret revealed to user %s",
        destination.pk,
        membership.user_id,
    )
    return signing.decrypt(destination.secret_encrypted)


def previous_secret_active(destination, now=None):
    expires = destination.previous_secret_expires_at
    return bool(expires and expires > (now or timezone.now()))


def paused_until(destination, now=None):
    paused = destination.paused_until
    return paused if paused and paused > (now or timezone.now()) else None


def send_test(destination):
    if not destination.enabled:
        raise SendRefused(DESTINATION_DISABLED)
    with transaction.atomic():
        return outbox.record_test(destination)


def resend(message):
    """Send a finished message again: a fresh retry cycle, the same event id."""
    if not message.destination.enabled:
        raise SendRefused(DESTINATION_DISABLED)
    if message.status not in FINISHED:
        raise SendRefused(STILL_DELIVERING)

    with transaction.atomic():
        delivery.schedule(message)
    log.info("Webhook message %s resent", message.pk)


def failed_since(destination, since):
    return _replayable(destination, since).count()


def replay_failed(destination, since):
    """Resend every failed message created since then, in one statement.

    Replaying thousands must not cost thousands of round trips.
    """
    if not destination.enabled:
        raise SendRefused(DESTINATION_DISABLED)

    with transaction.atomic():
        count = delivery.schedule_many(_replayable(destination, since))
    log.info(
        "Webhook destination %s: replaying %d failed messages", destination.pk, count
    )
    return count


def _replayable(destination, since):
    # Test events are for trying a receiver out, not for catching up.
    return destination.messages.filter(
        status=MessageStatus.FAILED, created__gte=since, is_test=False
    )


def disable_after():
    """WEBHOOK_DISABLE_AFTER in words, such as "5 days" or "1 day 6 hours"."""
    seconds = settings.WEBHOOK_DISABLE_AFTER
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{count} {unit}{'' if count == 1 else 's'}"
        for count, unit in (
            (days, "day"),
            (hours, "hour"),
            (minutes, "minute"),
            (seconds, "second"),
        )
        if count
    ]
    return " ".join(parts) or "0 seconds"


def destination_status(destination):
    """How a destination is doing, for its badge: a code and a sentence."""
    if not destination.enabled:
        reason = destination.disabled_reason or "No reason recorded."
        return {"code": "disabled", "label": "Disabled", "detail": reason}
    if destination.failing_since:
        since = destination.failing_since.astimezone(UTC)
        cutoff = since + timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER)
        detail = (
            f"Deliveries failing since {since:%d %b %Y %H:%M} UTC; if they still "
            f"fail after {cutoff:%d %b %Y %H:%M} UTC, it is disabled automatically."
        )
        return {"code": "failing", "label": "Failing", "detail": detail}
    return {"code": "healthy", "label": "Enabled", "detail": ""}


def success_rate_strip(destination, now=None):
    return success_rate_strips([destination], now)[destination.pk]


def success_rate_strips(destinations, now=None):
    """Attempts sent and succeeded per hour over the last day, per destination.

    Counted by the database in one query for all destinations; attempts
    whose outcome is unknown (a worker died holding them) are not counted.
    """
    hours = _strip_hours(now or timezone.now())
    end = hours[-1] + timedelta(hours=1)
    counts = _hourly_counts(destinations, hours[0], end)
    return {
        destination.pk: _strip(
            [_bucket(hour, counts.get((destination.pk, hour))) for hour in hours]
        )
        for destination in destinations
    }


def _strip(buckets):
    sent = sum(bucket["sent"] for bucket in buckets)
    succeeded = sum(bucket["succeeded"] for bucket in buckets)
    return {
        "buckets": buckets,
        "sent": sent,
        "succeeded": succeeded,
        "rate": _rate(succeeded, sent),
    }


def _strip_hours(now):
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    return [this_hour - timedelta(hours=n) for n in reversed(range(STRIP_HOURS))]


def _hourly_counts(destinations, start, end):
    # An attempt a dead worker held may never have been sent: not counted.
    finished = (Q(status_code__isnull=False) | ~Q(error="")) & ~Q(
        error=delivery.INTERRUPTED
    )
    succeeded = Q(status_code__gte=200, status_code__lt=300)
    rows = (
        Attempt.objects.filter(
            finished,
            message__destination__in=destinations,
            started_at__gte=start,
            started_at__lt=end,
        )
        .annotate(hour=TruncHour("started_at", tzinfo=UTC))
        .values("message__destination_id", "hour")
        .annotate(sent=Count("id"), succeeded=Count("id", filter=succeeded))
        .order_by()
    )
    return {(row["message__destination_id"], row["hour"]): row for row in rows}


def _bucket(hour, row):
    sent = row["sent"] if row else 0
    succeeded = row["succeeded"] if row else 0
    rate = _rate(succeeded, sent)
    return {"hour": hour, "sent": sent, "succeeded": succeeded, "rate": rate}


def _rate(succeeded, sent):
    """Whole per cent, rounded down so a single failure never shows as 100."""
    return 100 * succeeded // sent if sent else None


def open_backlogs(destinations):
    """Open (pending or retrying) messages per destination, and the oldest's time.

    One aggregate query for all of them, served by the (destination,
    status, created) index; a destination with nothing open is left out.
    """
    rows = (
        Message.objects.filter(destination__in=destinations, status__in=OPEN)
        .values("destination_id")
        .annotate(open=Count("id"), oldest=Min("created"))
        .order_by()
    )
    return {
        row["destination_id"]: {"open": row["open"], "oldest": row["oldest"]}
        for row in rows
    }


def next_step(message, now=None):
    """What happens next to a message, honestly, for the log and its page.

    A dict with a `code` and a `label`, and `when` where a time belongs:
    - "none": it has finished;
    - "in_flight": a worker holds it (on the wire or waiting its turn);
    - "disabled": its destination is disabled, so it will not be sent;
    - "paused": its destination is paused until `when`, and it waits;
    - "due": it is due now and waits for a worker;
    - "scheduled": the next attempt is at `when`.
    The message's destination should be loaded with it (select_related).
    """
    now = now or timezone.now()
    if message.status not in OPEN:
        return {"code": "none", "label": "—", "when": None}
    if message.lease_until and message.lease_until > now:
        return {"code": "in_flight", "label": "Being sent", "when": None}
    destination = message.destination
    if not destination.enabled:
        label = "Not sent: the destination is disabled"
        return {"code": "disabled", "label": label, "when": None}
    paused = paused_until(destination, now)
    due = message.next_attempt_at
    if paused and not message.is_test and (due is None or due < paused):
        label = "Waiting: destination paused until"
        return {"code": "paused", "label": label, "when": paused}
    if due is None or due <= now:
        return {"code": "due", "label": "Due now", "when": None}
    return {"code": "scheduled", "label": "", "when": due}


def scoped_messages(scope):
    return Message.objects.filter(
        destination__organisation=scope.organisation,
        destination__environment=scope.environment,
    )


def message_log(scope, filters, before=None, limit=50):
    """One page of the delivery log, newest first, and whether more follow.

    Paged by (created, id) rather than by offset, so the hundredth page
    costs what the first does. Each destination's newest rows come from
    its own (destination, created) index and are merged by the database
    (UNION ALL): one sort over every message in the environment would
    read them all.
    """
    destinations = scope.all(Destination).values_list("pk", flat=True)
    if filters.get("destination"):
        destinations = destinations.filter(pk=filters["destination"])

    newest = [
        _newest(Message.objects.filter(destination_id=pk), filters, before, limit)
        for pk in destinations
    ]
    if not newest:
        return [], False
    if len(newest) > 1:
        merged = newest[0].union(*newest[1:], all=True)
        newest = [merged.order_by("-created", "-id")[: limit + 1]]
    page_ids = [pk for pk, _ in newest[0]]

    rows = Message.objects.filter(pk__in=page_ids).select_related(
        "event", "destination"
    )
    page = list(rows.order_by("-created", "-pk"))
    return page[:limit], len(page) > limit


def _newest(messages, filters, before, limit):
    messages = _filtered(messages, filters)
    if before is not None:
        created, pk = before
        older = Q(created__lt=created) | Q(created=created, pk__lt=pk)
        messages = messages.filter(older)
    ordered = messages.order_by("-created", "-pk").values_list("pk", "created")
    return ordered[: limit + 1]


def _filtered(messages, filters):
    lookups = {
        "status": "status",
        "event_type": "event__type",
        "connection": "event__connection_id",
        "since": "created__gte",
        "until": "created__lte",
    }
    chosen = {
        lookup: filters[name]
        for name, lookup in lookups.items()
        if filters.get(name) not in (None, "")
    }
    return messages.filter(**chosen)
