"""A connection's events reach each destination in the order they were recorded."""

import json
import random
import time
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from tests.webhook_receiver import Answer
from tests.webhooks_delivery_support import client_secret, deliver, make_destination
from webhooks import delivery, outbox
from webhooks.models import Destination, Event, Message, MessageStatus


@pytest.fixture
def destination(sandbox, receiver, task_queue):
    client_secret(sandbox)
    return make_destination(sandbox, receiver.url)


def record_first_sync(scope, connection_id):
    """INITIAL_UPDATE then HISTORICAL_UPDATE in one transaction, as a sync does."""
    with transaction.atomic():
        for code in ("INITIAL_UPDATE", "HISTORICAL_UPDATE"):
            body = {
                "type": "CONNECTION",
                "code": code,
                "connection_id": str(connection_id),
            }
            outbox.record(scope, code, body, connection_id=connection_id)


def record_updates(scope, count):
    """`count` CONNECTION_UPDATED events of one new connection, numbered n."""
    connection_id = uuid.uuid4()
    with transaction.atomic():
        for number in range(count):
            body = {"type": "CONNECTION", "code": "CONNECTION_UPDATED", "n": number}
            code = "CONNECTION_UPDATED"
            outbox.record(scope, code, body, connection_id=connection_id)
    return connection_id


def arrivals(receiver):
    """Each connection's event codes in the order the receiver got them."""
    seen = {}
    for request in receiver.requests:
        body = json.loads(request.body)
        seen.setdefault(body["connection_id"], []).append(body["code"])
    return seen


def message_of(code, connection_id):
    return Message.objects.get(event__type=code, event__connection_id=connection_id)


def test_events_recorded_together_arrive_in_order_every_time(
    sandbox, destination, receiver
):
    # Five rounds of 120 messages: more than a batch, so streams are split
    # between a batch on the wire and the next one claimed meanwhile.
    rounds, per_round = 5, 60
    connections = []
    for _ in range(rounds):
        recorded = [uuid.uuid4() for _ in range(per_round)]
        for connection_id in recorded:
            record_first_sync(sandbox, connection_id)
        connections += recorded
        receiver.will(*[Answer(delay=0.005)] * 2 * per_round)
        deliver_until_done()

    first_sync = ["INITIAL_UPDATE", "HISTORICAL_UPDATE"]
    assert arrivals(receiver) == {str(c): first_sync for c in connections}
    assert len(receiver.requests) == 2 * rounds * per_round
    assert not Message.objects.exclude(status=MessageStatus.SUCCEEDED).exists()


def deliver_until_done():
    """Deliver as workers would, letting held-back messages' short wait pass."""
    for _ in range(20):
        delivery.deliver_all_due()
        waiting = Message.objects.exclude(status=MessageStatus.SUCCEEDED)
        if not waiting.exists():
            return
        waiting.update(next_attempt_at=timezone.now())
    pytest.fail("messages were still waiting after 20 runs")


def test_events_sharing_a_timestamp_keep_the_order_they_were_recorded_in(
    sandbox, destination, receiver
):
    connection_id = uuid.uuid4()
    record_first_sync(sandbox, connection_id)
    Event.objects.update(created=timezone.now())

    assert deliver() == 2

    codes = arrivals(receiver)[str(connection_id)]
    assert codes == ["INITIAL_UPDATE", "HISTORICAL_UPDATE"]


def test_sequence_numbers_increase_even_within_one_clock_tick():
    numbers = [outbox.next_sequence() for _ in range(1000)]

    assert numbers == sorted(set(numbers))


def test_after_a_failure_the_rest_of_the_stream_waits_for_its_retry(
    sandbox, destination, receiver
):
    connection_id = uuid.uuid4()
    record_first_sync(sandbox, connection_id)
    receiver.will(Answer(500))

    assert deliver() == 2

    assert [json.loads(r.body)["code"] for r in receiver.requests] == ["INITIAL_UPDATE"]
    initial = message_of("INITIAL_UPDATE", connection_id)
    historical = message_of("HISTORICAL_UPDATE", connection_id)
    assert initial.status == MessageStatus.RETRYING
    assert historical.status == MessageStatus.PENDING
    assert (historical.attempt_count, historical.attempts.count()) == (0, 0)
    assert historical.lease_until is None and historical.last_attempt_at is None

    # Due again before the failed message's retry: held until just after it.
    Message.objects.filter(pk=historical.pk).update(next_attempt_at=timezone.now())
    assert deliver() == 0
    historical.refresh_from_db()
    assert historical.next_attempt_at == initial.next_attempt_at + delivery.ORDER_GAP
    assert len(receiver.requests) == 1

    Message.objects.filter(event__connection_id=connection_id).update(
        next_attempt_at=timezone.now()
    )
    assert deliver() == 2
    codes = arrivals(receiver)[str(connection_id)]
    assert codes == ["INITIAL_UPDATE", "INITIAL_UPDATE", "HISTORICAL_UPDATE"]
    historical.refresh_from_db()
    assert (historical.status, historical.attempt_count) == ("succeeded", 1)


def test_an_earlier_message_in_flight_elsewhere_holds_back_the_next(
    sandbox, destination, receiver
):
    connection_id = uuid.uuid4()
    record_first_sync(sandbox, connection_id)
    initial = message_of("INITIAL_UPDATE", connection_id)
    leased = timezone.now() + timedelta(minutes=5)
    Message.objects.filter(pk=initial.pk).update(lease_until=leased)

    before = timezone.now()
    assert deliver() == 0

    assert receiver.requests == []
    historical = message_of("HISTORICAL_UPDATE", connection_id)
    waited = historical.next_attempt_at - before
    assert timedelta(0) < waited <= delivery.ORDER_WAIT + timedelta(seconds=1)


def test_other_connections_and_destinations_are_not_held_back(
    sandbox, destination, receiver
):
    other = make_destination(sandbox, receiver.url)
    stuck, free = uuid.uuid4(), uuid.uuid4()
    record_first_sync(sandbox, stuck)
    record_first_sync(sandbox, free)
    Message.objects.filter(
        destination=destination,
        event__type="INITIAL_UPDATE",
        event__connection_id=stuck,
    ).update(
        status=MessageStatus.RETRYING,
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )

    # Eight messages: the stuck one is not due and holds back the one after it.
    assert deliver() == 6

    assert len(receiver.requests) == 6
    waiting = Message.objects.exclude(status=MessageStatus.SUCCEEDED)
    assert sorted((m.destination_id, m.event.connection_id) for m in waiting) == [
        (destination.pk, stuck),
        (destination.pk, stuck),
    ]
    assert other.messages.filter(status=MessageStatus.SUCCEEDED).count() == 4


def test_one_connections_long_stream_goes_out_in_order_within_seconds(
    sandbox, destination, receiver, monkeypatch
):
    monkeypatch.setitem(delivery._latency, destination.pk, 0.0002)
    monkeypatch.setattr(delivery, "TASK_SECONDS", 30)
    record_updates(sandbox, 120)
    started = time.monotonic()

    # As the worker would run the wake-up task each run queues.
    while Message.objects.exclude(status=MessageStatus.SUCCEEDED).exists():
        assert time.monotonic() - started < 8  # five every five seconds: 2 min
        delivery.deliver_all_due()
        time.sleep(0.2)

    sent = [json.loads(request.body)["n"] for request in receiver.requests]
    assert sent == list(range(120))


def test_a_task_out_of_time_does_not_send_a_slow_streams_rest_one_by_one(
    sandbox, destination, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    # A stream's share went out on one thread one after another: ten
    # messages to a receiver answering in 5 s held the task for 50 s.
    monkeypatch.setattr(delivery, "TASK_SECONDS", 0.2)
    record_updates(sandbox, 4)
    receiver.will(*[Answer(delay=0.5)] * 4)
    started = time.monotonic()

    with django_capture_on_commit_callbacks(execute=True):
        delivery.deliver_all_due()

    # One answer (0.5 s), not four one after another (2 s).
    assert time.monotonic() - started < 1.5
    assert len(receiver.requests) == 1
    sent = Message.objects.get(status=MessageStatus.SUCCEEDED)
    assert sent.event.payload["n"] == 0
    rest = Message.objects.exclude(pk=sent.pk)
    assert rest.count() == 3
    assert not rest.filter(lease_until__isnull=False).exists()
    assert not rest.filter(attempt_count__gt=0).exists()

    delivery.deliver_due()  # the rest, in order, by a later task
    numbers = [json.loads(request.body)["n"] for request in receiver.requests]
    assert numbers[:2] == [0, 1]


def _stream_to_failing_destination(sandbox, destination, count):
    Destination.objects.filter(pk=destination.pk).update(failing_since=timezone.now())
    connection_id = record_updates(sandbox, count)
    return list(
        Message.objects.filter(event__connection_id=connection_id).order_by(
            "event__sequence"
        )
    )


def test_a_failing_destinations_share_goes_to_its_streams_first_message(
    sandbox, destination
):
    # The two oldest due were later messages of a stream whose first was
    # due a moment later: held back, they used up the share every time,
    # and the first was reached after about 100 minutes.
    head, *rest = _stream_to_failing_destination(sandbox, destination, 6)
    now = timezone.now()
    a_second_ago = now - timedelta(seconds=1)
    Message.objects.filter(pk=head.pk).update(next_attempt_at=a_second_ago)
    Message.objects.filter(pk__in=[m.pk for m in rest]).update(
        next_attempt_at=now - timedelta(seconds=2)
    )

    jobs = delivery.claim_due()

    # The claim offered two of the rest; the first was claimed instead.
    assert [job.message.pk for job in jobs] == [head.pk]
    held = Message.objects.filter(pk__in=[m.pk for m in rest])
    assert held.filter(lease_until__isnull=False).count() == 0
    assert held.filter(next_attempt_at__gt=now).count() == 2


def test_messages_held_behind_a_retry_fall_due_after_it(sandbox, destination):
    head, *rest = _stream_to_failing_destination(sandbox, destination, 3)
    retry_at = timezone.now() + timedelta(minutes=1)
    Message.objects.filter(pk=head.pk).update(
        status=MessageStatus.RETRYING, next_attempt_at=retry_at, attempt_count=1
    )

    assert delivery.claim_due() == []

    held = sorted(
        Message.objects.filter(pk__in=[m.pk for m in rest]).select_related("event"),
        key=lambda message: message.event.sequence,
    )
    due = [message.next_attempt_at for message in held]
    assert due == sorted(due) and len(set(due)) == len(due)
    assert due[0] == retry_at + delivery.ORDER_GAP


def test_a_task_ending_while_a_destination_is_throttled_wakes_for_its_end(
    sandbox, destination, task_queue, django_capture_on_commit_callbacks
):
    # Its messages are due already, so no due time asked for a task then:
    # delivery stalled until the minute's sweep.
    Destination.objects.filter(pk=destination.pk).update(failing_since=timezone.now())
    for _ in range(5):
        body = {"type": "CONNECTION", "code": "INITIAL_UPDATE", "connection_id": None}
        outbox.record(sandbox, "INITIAL_UPDATE", body)
    delivery.claim_due()
    throttled_until = delivery._throttled_until[destination.pk]
    task_queue.clear()
    delivery._wake_queued_for = None

    with django_capture_on_commit_callbacks(execute=True):
        delivery._wake_for_next_retry(timezone.now())

    assert [r.task.run_after for r in task_queue.results] == [throttled_until]


def test_a_backlog_of_one_connection_sharing_a_due_time_goes_in_order_and_in_bulk(
    sandbox, destination, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    # More than a batch. Held messages all shared one due time and the
    # claim broke the tie at random: each claim found a slice without the
    # stream's first, claimed that first alone and held the rest again, one
    # message a second.
    record_updates(sandbox, delivery.BATCH_SIZE + 50)
    # One at a time in a shuffled order, as repeated holds left them: rows
    # with equal due times then lie in the index in no particular order.
    due = timezone.now() - timedelta(seconds=1)
    pks = list(Message.objects.values_list("pk", flat=True))
    random.Random(5).shuffle(pks)
    for pk in pks:
        Message.objects.filter(pk=pk).update(next_attempt_at=due)
    monkeypatch.setitem(delivery._latency, destination.pk, 0.001)  # a fast one

    with django_capture_on_commit_callbacks(execute=True):
        delivery.deliver_all_due()

    numbers = [json.loads(request.body)["n"] for request in receiver.requests]
    assert len(numbers) >= delivery.STREAM_SHARE
    assert numbers == list(range(len(numbers)))
