"""The outbox: events are written in the transaction that causes them.

``record`` adds an Event and one Message per matching destination to the
caller's transaction; delivery is scheduled only once that transaction
commits. A crash before the commit loses the change and its event together;
a crash after it leaves the messages due, and the sweeper sends them.
"""

import logging
import secrets
import threading
import time

from django.db import transaction
from django.utils import timezone

from webhooks import events
from webhooks.models import Destination, Event, Message

log = logging.getLogger(__name__)

EVENT_ID_PREFIX = "evt_"

_sequence_lock = threading.Lock()
_last_sequence = 0


def record(scope, event_type, payload, *, connection_id=None):
    """Write an event and its messages; call inside the causing transaction."""
    return _record(
        scope.organisation.pk,
        scope.environment,
        event_type,
        payload,
        connection_id,
    )


def record_for_connection(connection, payload):
    """Record a connection's event (the payload's code is its type)."""
    return _record(
        connection.organisation_id,
        connection.environment,
        payload["code"],
        payload,
        connection.id,
    )


def record_test(destination):
    """A test event for one destination, sent once and never retried."""
    with transaction.atomic():
        event = _new_event(
            destination.organisation_id,
            destination.environment,
            events.TEST_EVENT,
            events.sample_payload(destination),
            None,
        )
        message = Message.objects.create(
            event=event,
            destination=destination,
            is_test=True,
            next_attempt_at=timezone.now(),
        )
        _schedule_on_commit()
    return message


def new_event_id():
    return f"{EVENT_ID_PREFIX}{secrets.token_hex(12)}"


def _record(organisation_id, environment, event_type, payload, connection_id):
    with transaction.atomic():
        event = _new_event(
            organisation_id, environment, event_type, payload, connection_id
        )
        destinations = _destinations_for(organisation_id, environment, event_type)
        now = timezone.now()
        Message.objects.bulk_create(
            Message(event=event, destination=destination, next_attempt_at=now)
            for destination in destinations
        )
        if destinations:
            _schedule_on_commit()
    log.debug(
        "Recorded %s %s for %d destinations", event_type, event.id, len(destinations)
    )
    return event


def next_sequence():
    """A clock reading in nanoseconds, bumped past the last one this process gave.

    Events recorded in one transaction can share a `created` microsecond;
    this keeps them in the order they were recorded.
    """
    global _last_sequence
    with _sequence_lock:
        _last_sequence = max(time.time_ns(), _last_sequence + 1)
        return _last_sequence


def _new_event(organisation_id, environment, event_type, payload, connection_id):
    stored, token_encrypted = events.split_secret(payload)
    return Event.objects.create(
        id=new_event_id(),
        sequence=next_sequence(),
        organisation_id=organisation_id,
        environment=environment,
        type=event_type,
        connection_id=connection_id,
        payload=stored,
        access_token_encrypted=token_encrypted,
    )


def _destinations_for(organisation_id, environment, event_type):
    destinations = Destination.objects.filter(
        organisation_id=organisation_id, environment=environment, enabled=True
    )
    return [
        destination
        for destination in destinations
        if not destination.event_types or event_type in destination.event_types
    ]


def _schedule_on_commit():
    # One delivery task per transaction, however many events it records:
    # the task sends everything due. A callback registered in a savepoint
    # that rolls back leaves this list, so a later event registers anew.
    pending = transaction.get_connection().run_on_commit
    if not any(callback is _schedule for _, callback, _ in pending):
        transaction.on_commit(_schedule)


def _schedule():
    from webhooks.delivery import enqueue

    enqueue()
