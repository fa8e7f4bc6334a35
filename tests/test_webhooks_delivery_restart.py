"""A worker dying mid-delivery loses nothing, and two never send one attempt."""

import threading
import time
from datetime import timedelta

import pytest
from django import db
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from tests.webhook_receiver import Answer
from tests.webhooks_delivery_support import (
    client_secret,
    deliver,
    make_destination,
    record_event,
)
from webhooks import delivery, services
from webhooks.models import Message, MessageStatus


@pytest.fixture
def destination(sandbox, receiver):
    client_secret(sandbox)
    return make_destination(sandbox, receiver.url)


def expire_leases():
    past = timezone.now() - timedelta(seconds=1)
    Message.objects.update(lease_until=past)


def test_a_worker_killed_after_sending_is_resent_with_the_same_id(
    sandbox, destination, receiver
):
    event = record_event(sandbox)
    [job] = delivery.claim_due()
    delivery.send(job)  # the request went out; the worker dies before recording it

    assert deliver() == 0  # leased: nobody else may send it meanwhile
    expire_leases()
    assert deliver() == 1

    message = Message.objects.get(event=event)
    assert message.status == MessageStatus.SUCCEEDED
    first, second = message.attempts.all()
    assert first.error == delivery.INTERRUPTED and first.status_code is None
    assert second.status_code == 200
    ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert ids == [event.id, event.id]


def test_a_worker_killed_before_sending_still_delivers(
    sandbox, destination, receiver
):
    event = record_event(sandbox)
    delivery.claim_due()  # claimed, then the worker dies

    expire_leases()
    deliver()

    assert len(receiver.requests) == 1
    assert Message.objects.get(event=event).status == MessageStatus.SUCCEEDED


def test_the_sweep_queues_due_messages_whose_task_was_lost(
    sandbox, destination, task_queue, django_capture_on_commit_callbacks
):
    record_event(sandbox)
    delivery.claim_due()
    expire_leases()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("webhooks_sweep")

    assert [result.task.name for result in task_queue.results] == ["deliver_due"]


def test_the_sweep_queues_nothing_when_nothing_is_due(
    sandbox, task_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("webhooks_sweep")

    assert task_queue.results == []


def test_a_message_leased_by_a_live_worker_is_not_swept(
    sandbox, destination, task_queue, django_capture_on_commit_callbacks
):
    record_event(sandbox)
    delivery.claim_due()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("webhooks_sweep")

    assert task_queue.results == []


@pytest.mark.django_db(transaction=True)
def test_a_row_locked_by_another_worker_is_skipped(sandbox, destination):
    event = record_event(sandbox)
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                Message.objects.select_for_update().get(event=event)
                locked.set()
                release.wait(10)
        finally:
            db.connection.close()

    worker = threading.Thread(target=other_worker)
    worker.start()
    locked.wait(10)
    try:
        assert delivery.claim_due() == []
    finally:
        release.set()
        worker.join()
    assert len(delivery.claim_due()) == 1


@pytest.mark.django_db(transaction=True)
def test_leases_are_renewed_while_a_slow_batch_is_on_the_wire(
    sandbox, destination, receiver, settings, monkeypatch
):
    # A lease of one second, renewed every quarter of it.
    settings.WEBHOOK_TOTAL_TIMEOUT = 0.5
    settings.WEBHOOK_CONCURRENCY = 1
    monkeypatch.setattr(delivery, "LEASE_MARGIN", timedelta(0))
    receiver.will(*[Answer(200, delay=0.4)] * 4)
    for _ in range(4):
        record_event(sandbox)
    claimed_by_another = []

    def first_worker():
        try:
            delivery.deliver_due()
        finally:
            db.connection.close()

    worker = threading.Thread(target=first_worker)
    worker.start()
    time.sleep(1.3)  # past the first lease; the third request is out
    claimed_by_another.extend(delivery.claim_due())
    worker.join()

    assert claimed_by_another == []
    assert len(receiver.requests) == 4
    assert Message.objects.filter(status=MessageStatus.SUCCEEDED).count() == 4


def test_a_worker_that_stops_renewing_lets_the_lease_run_out_within_a_minute(
    sandbox, destination, settings
):
    settings.WEBHOOK_TOTAL_TIMEOUT = 15
    record_event(sandbox)
    before = timezone.now()

    delivery.claim_due()

    lease_until = Message.objects.get().lease_until
    assert lease_until - before <= timedelta(seconds=61)


def test_an_interrupted_attempt_uses_no_step_of_the_retry_schedule(
    sandbox, destination, receiver, settings
):
    settings.WEBHOOK_RETRY_DELAYS = [60]  # one retry, then it fails for good
    receiver.will(Answer(500))
    event = record_event(sandbox)
    delivery.claim_due()  # the worker dies holding it
    expire_leases()

    deliver()  # answered 500: the first real try, so one retry is left

    message = Message.objects.get(event=event)
    assert message.status == MessageStatus.RETRYING
    assert [a.error == delivery.INTERRUPTED for a in message.attempts.all()] == [
        True,
        False,
    ]


def test_an_interrupted_attempt_is_not_counted_as_sent(sandbox, destination):
    event = record_event(sandbox)
    delivery.claim_due()
    expire_leases()
    delivery.claim_due()  # records the interrupted attempt

    strip = services.success_rate_strip(destination)

    assert Message.objects.get(event=event).attempts.count() == 1
    assert (strip["sent"], strip["succeeded"]) == (0, 0)
