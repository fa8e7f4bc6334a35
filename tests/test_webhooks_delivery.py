"""Delivering webhooks to a real receiver on loopback."""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import Role
from tests.factories import MembershipFactory
from tests.webhook_receiver import Answer, Receiver, Trickle, TrickleHead
from tests.webhooks_delivery_support import (
    client_secret,
    deliver,
    make_destination,
    record_event,
)
from webhooks import delivery, http, outbox, services
from webhooks.models import Destination, Message, MessageStatus


@pytest.fixture
def destination(sandbox, receiver):
    client_secret(sandbox)
    return make_destination(sandbox, receiver.url)


@pytest.fixture
def queued(task_queue):
    return task_queue


def message_of(event):
    return Message.objects.get(event=event)


def make_due(message):
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def test_success_is_recorded_with_status_latency_and_excerpt(
    sandbox, destination, receiver, queued
):
    event = record_event(sandbox)

    assert deliver() == 1

    message = message_of(event)
    assert message.status == MessageStatus.SUCCEEDED
    assert message.next_attempt_at is None and message.lease_until is None
    attempt = message.attempts.get()
    assert (attempt.number, attempt.status_code) == (1, 200)
    assert attempt.response_excerpt == "ok"
    assert 0 <= attempt.duration_ms < 5000
    assert attempt.request_headers["webhook-id"] == event.id
    assert attempt.request_headers["User-Agent"] == "Rutterdash-Webhooks/1.0"
    request = receiver.requests[0]
    assert request.headers["user-agent"] == "Rutterdash-Webhooks/1.0"
    assert request.headers["content-type"] == "application/json"
    destination.refresh_from_db()
    assert destination.last_status_code == 200
    assert destination.last_success_at is not None
    assert destination.failing_since is None


def test_a_500_is_retried_later_with_the_same_event_id(
    sandbox, destination, receiver, queued, django_capture_on_commit_callbacks
):
    receiver.will(Answer(500, b"boom"))
    event = record_event(sandbox)
    before = timezone.now()

    with django_capture_on_commit_callbacks(execute=True):
        deliver()

    message = message_of(event)
    assert message.status == MessageStatus.RETRYING
    assert message.last_error == "The receiver answered 500."
    wait = message.next_attempt_at - before
    assert timedelta(seconds=60) <= wait <= timedelta(seconds=67)
    retry_task = queued.results[-1]
    assert retry_task.task.name == "deliver_due"
    assert retry_task.task.run_after == message.next_attempt_at

    make_due(message)
    deliver()

    message.refresh_from_db()
    assert message.status == MessageStatus.SUCCEEDED
    assert [a.status_code for a in message.attempts.all()] == [500, 200]
    ids = {request.headers["webhook-id"] for request in receiver.requests}
    assert ids == {event.id}
    destination.refresh_from_db()
    assert destination.failing_since is None


def test_retry_after_is_honoured_and_bounded(sandbox, destination, receiver, queued):
    receiver.will(
        Answer(503, headers={"Retry-After": "600"}),
        Answer(429, headers={"Retry-After": "99999999"}),
    )
    first = record_event(sandbox)
    second = record_event(sandbox)
    before = timezone.now()

    deliver()

    waits = sorted(
        message_of(event).next_attempt_at - before for event in (first, second)
    )
    assert timedelta(seconds=600) <= waits[0] < timedelta(seconds=610)
    longest = timedelta(seconds=max(delivery.settings.WEBHOOK_RETRY_DELAYS))
    assert longest <= waits[1] < longest * 1.2
    destination.refresh_from_db()
    assert destination.paused_until > before + timedelta(seconds=590)


def test_a_message_fails_once_the_schedule_is_used_up(
    sandbox, destination, receiver, queued, settings
):
    settings.WEBHOOK_RETRY_DELAYS = [1]
    receiver.will(Answer(500), Answer(502))
    event = record_event(sandbox)

    deliver()
    make_due(message_of(event))
    deliver()

    message = message_of(event)
    assert message.status == MessageStatus.FAILED
    assert message.last_error == "The receiver answered 502. Gave up after 2 attempts."
    assert message.next_attempt_at is None
    assert len(receiver.requests) == 2


def test_a_receiver_that_never_answers_times_out(
    sandbox, destination, receiver, queued, settings
):
    settings.WEBHOOK_TOTAL_TIMEOUT = 1
    receiver.will(Answer(200, delay=4))
    event = record_event(sandbox)
    started = time.monotonic()

    deliver()

    assert time.monotonic() - started < 2.5
    attempt = message_of(event).attempts.get()
    assert attempt.status_code is None
    assert attempt.error == "No complete response within 1 s."
    assert message_of(event).status == MessageStatus.RETRYING


def test_a_status_line_trickled_byte_by_byte_cannot_pass_the_deadline(
    sandbox, destination, receiver, queued, settings
):
    settings.WEBHOOK_TOTAL_TIMEOUT = 1
    receiver.will(TrickleHead(every=0.05))  # 10 s for the whole head
    event = record_event(sandbox)
    started = time.monotonic()

    deliver()

    assert time.monotonic() - started < 2
    attempt = message_of(event).attempts.get()
    assert attempt.status_code is None
    assert attempt.error == "No complete response within 1 s."


def test_a_trickled_body_is_cut_at_the_deadline(
    sandbox, destination, receiver, queued, settings
):
    settings.WEBHOOK_TOTAL_TIMEOUT = 1
    receiver.will(Trickle(every=0.1, body=b"z" * 100))  # 10 s for the body
    event = record_event(sandbox)
    started = time.monotonic()

    deliver()

    assert time.monotonic() - started < 2
    attempt = message_of(event).attempts.get()
    assert attempt.status_code == 200
    assert 0 < len(attempt.response_excerpt) < 20
    assert attempt.error == "The response body was still arriving at the deadline."
    assert message_of(event).status == MessageStatus.SUCCEEDED


def test_a_redirect_is_not_followed(sandbox, destination, receiver, queued):
    internal = "http://169.254.169.254/latest/meta-data/"
    receiver.will(Answer(302, headers={"Location": internal}))
    event = record_event(sandbox)

    deliver()

    assert len(receiver.requests) == 1
    message = message_of(event)
    assert message.status == MessageStatus.RETRYING
    assert message.last_status_code == 302
    assert message.last_error == (
        f"The receiver answered 302, a redirect to {internal}; "
        "redirects are not followed."
    )
    attempt = message.attempts.get()
    assert attempt.response_headers["location"] == internal


def test_a_redirect_to_the_receiver_itself_is_not_followed_either(
    sandbox, destination, receiver, queued
):
    receiver.will(Answer(307, headers={"Location": receiver.url + "/elsewhere"}))
    record_event(sandbox)

    deliver()

    assert [request.path for request in receiver.requests] == ["/hook"]


def test_an_oversized_response_is_kept_to_16_kb(sandbox, destination, receiver, queued):
    receiver.will(Answer(200, body=b"a" * 200_000))
    event = record_event(sandbox)

    deliver()

    attempt = message_of(event).attempts.get()
    assert len(attempt.response_excerpt) == http.RESPONSE_LIMIT == 16 * 1024
    assert message_of(event).status == MessageStatus.SUCCEEDED


def test_410_stops_at_once_and_disables_the_destination(
    sandbox,
    organisation,
    destination,
    receiver,
    queued,
    admin,
    developer,
    django_capture_on_commit_callbacks,
):
    receiver.will(Answer(410, b"gone"))
    event = record_event(sandbox)

    with django_capture_on_commit_callbacks(execute=True):
        deliver()

    message = message_of(event)
    assert message.status == MessageStatus.FAILED
    assert message.last_error == "The receiver answered 410. Not retried."
    assert not any(result.task.run_after for result in queued.results)
    destination.refresh_from_db()
    assert not destination.enabled
    assert destination.disabled_reason.startswith("The receiver answered 410 Gone")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [admin.email]
    assert destination.url in mail.outbox[0].subject


def test_a_destination_failing_too_long_is_disabled_and_admins_told(
    sandbox,
    destination,
    receiver,
    queued,
    admin,
    django_capture_on_commit_callbacks,
):
    six_days_ago = timezone.now() - timedelta(days=6)
    Destination.objects.filter(pk=destination.pk).update(failing_since=six_days_ago)
    receiver.will(Answer(500))
    record_event(sandbox)

    with django_capture_on_commit_callbacks(execute=True):
        deliver()

    destination.refresh_from_db()
    assert not destination.enabled
    assert "Every delivery failed since" in destination.disabled_reason
    assert "The receiver answered 500." in destination.disabled_reason
    assert [m.to for m in mail.outbox] == [[admin.email]]


def test_a_destination_failing_briefly_stays_enabled(
    sandbox, destination, receiver, queued
):
    receiver.will(Answer(500))
    record_event(sandbox)

    deliver()

    destination.refresh_from_db()
    assert destination.enabled
    assert destination.failing_since is not None
    assert destination.last_error == "The receiver answered 500."
    assert mail.outbox == []


def test_other_organisations_admins_are_not_emailed(
    sandbox,
    destination,
    receiver,
    queued,
    admin,
    django_capture_on_commit_callbacks,
):
    stranger = MembershipFactory(role=Role.ADMIN).user
    receiver.will(Answer(410))
    record_event(sandbox)

    with django_capture_on_commit_callbacks(execute=True):
        deliver()

    recipients = [address for sent in mail.outbox for address in sent.to]
    assert recipients == [admin.email]
    assert stranger.email not in recipients


def test_a_dead_receiver_pauses_its_destination_not_others(sandbox, receiver, queued):
    client_secret(sandbox)
    with Receiver() as doomed:
        dead_url = doomed.url
    dead = make_destination(sandbox, dead_url)
    live = make_destination(sandbox, receiver.url)
    record_event(sandbox)

    deliver()

    dead.refresh_from_db()
    assert dead.paused_until > timezone.now() + timedelta(seconds=50)
    assert dead.last_error.startswith("Could not connect")
    assert Message.objects.get(destination=live).status == MessageStatus.SUCCEEDED

    later = record_event(sandbox)
    deliver()

    waiting = Message.objects.get(event=later, destination=dead)
    assert waiting.attempt_count == 0
    assert waiting.next_attempt_at >= dead.paused_until
    assert Message.objects.get(event=later, destination=live).attempt_count == 1


def test_a_slow_destination_does_not_delay_another(sandbox, receiver, queued, settings):
    settings.WEBHOOK_TOTAL_TIMEOUT = 3
    client_secret(sandbox)
    with Receiver() as slow:
        slow.will(Answer(200, delay=2))
        make_destination(sandbox, slow.url)
        fast = make_destination(sandbox, receiver.url)
        record_event(sandbox)
        started = time.monotonic()

        deliver()

        elapsed = time.monotonic() - started
    fast_attempt = Message.objects.get(destination=fast).attempts.get()
    assert fast_attempt.duration_ms < 1000
    assert receiver.requests[0].at - started < 1
    assert elapsed < 3


def _deliver_eight_answers_of_300_ms(sandbox, receiver):
    """Deliver eight messages to a receiver answering each in 0.3 s; seconds taken."""
    receiver.will(*[Answer(200, delay=0.3)] * 8)
    for _ in range(8):
        record_event(sandbox)
    started = time.monotonic()
    assert deliver() == 8
    return time.monotonic() - started


def test_a_slow_receiver_gets_many_requests_in_flight(
    sandbox, destination, receiver, queued, monkeypatch
):
    monkeypatch.setitem(delivery._latency, destination.pk, 0.3)

    elapsed = _deliver_eight_answers_of_300_ms(sandbox, receiver)

    assert elapsed < 1.2  # one at a time would take 2.4 s
    assert receiver.connections == 8


def test_a_fast_receiver_gets_one_request_at_a_time_on_one_connection(
    sandbox, destination, receiver, queued, monkeypatch
):
    monkeypatch.setitem(delivery._latency, destination.pk, 0.0002)
    events = [record_event(sandbox) for _ in range(12)]

    assert deliver() == 12

    assert receiver.connections == 1
    arrived = [request.headers["webhook-id"] for request in receiver.requests]
    assert sorted(arrived) == sorted(event.id for event in events)


def test_a_fast_destination_turning_slow_gets_more_threads_within_its_backlog(
    sandbox, destination, receiver, queued, monkeypatch
):
    monkeypatch.setitem(delivery._latency, destination.pk, 0.0002)

    elapsed = _deliver_eight_answers_of_300_ms(sandbox, receiver)

    # One thread holding all eight (its old answer time said they fit in
    # 20 ms) would take 2.4 s; it hands them back after the first slow one.
    assert elapsed < 1.5
    assert delivery.lane_count(destination.pk) > 1


def test_a_destinations_answer_time_is_learnt_from_its_deliveries(
    sandbox, destination, receiver, queued, settings
):
    assert delivery.lane_count(destination.pk) == delivery.UNKNOWN_LANES
    receiver.will(*[Answer(200, delay=0.05)] * 3)
    for _ in range(3):
        record_event(sandbox)

    deliver()

    # About 50 ms an answer: one lane per millisecond, up to the thread limit.
    assert delivery.lane_count(destination.pk) == settings.WEBHOOK_CONCURRENCY


@pytest.mark.parametrize(
    ("latency", "lanes"), [(0.0, 1), (0.0009, 1), (0.0021, 3), (0.2, 16), (9.0, 16)]
)
def test_lanes_grow_with_answer_time_up_to_the_thread_limit(
    latency, lanes, settings, monkeypatch
):
    settings.WEBHOOK_CONCURRENCY = 16
    monkeypatch.setitem(delivery._latency, "destination", latency)

    assert delivery.lane_count("destination") == lanes


def test_a_task_hands_a_long_backlog_over_to_a_fresh_task(
    sandbox,
    destination,
    receiver,
    queued,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    monkeypatch.setattr(delivery, "TASK_SECONDS", 0)
    # Known to answer fast: the task need not wait for its requests.
    monkeypatch.setitem(delivery._latency, destination.pk, 0.001)
    for _ in range(delivery.BATCH_SIZE + 20):
        record_event(sandbox)
    queued.clear()

    with django_capture_on_commit_callbacks(execute=True):
        claimed = delivery.deliver_all_due()

    assert claimed == delivery.BATCH_SIZE
    assert [result.task.name for result in queued.results] == ["deliver_due"]
    # What no thread had taken when the time ran out was given back, due
    # as before and not counted as an attempt, for the fresh task.
    sent = len(receiver.requests)
    assert sent < delivery.BATCH_SIZE
    unsent = Message.objects.filter(status=MessageStatus.PENDING)
    assert unsent.count() == delivery.BATCH_SIZE + 20 - sent
    assert not unsent.filter(lease_until__isnull=False).exists()
    assert not unsent.filter(attempt_count__gt=0).exists()
    assert len(delivery.claim_due()) == delivery.BATCH_SIZE


def test_a_task_out_of_time_serves_fast_destinations_until_slow_answers_are_in(
    sandbox,
    receiver,
    queued,
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    # Handing over with a slow request out made the next task wait for it,
    # and every fast destination with it: seconds of silence per task.
    settings.WEBHOOK_TOTAL_TIMEOUT = 5
    monkeypatch.setattr(delivery, "TASK_SECONDS", 0.3)
    client_secret(sandbox)
    with Receiver() as slow_receiver:
        slow_receiver.will(Answer(200, delay=2))
        slow = make_destination(sandbox, slow_receiver.url)
        fast = make_destination(sandbox, receiver.url)
        first, second = record_event(sandbox), record_event(sandbox)
        Message.objects.filter(event=first, destination=fast).delete()
        Message.objects.filter(event=second, destination=slow).delete()
        # Falls due while the slow request is out and the task's time is up.
        Message.objects.filter(event=second).update(
            next_attempt_at=timezone.now() + timedelta(seconds=0.7)
        )
        queued.clear()
        started = time.monotonic()

        with django_capture_on_commit_callbacks(execute=True):
            claimed = delivery.deliver_all_due()

        elapsed = time.monotonic() - started
        assert slow_receiver.requests

    assert claimed == 2
    assert receiver.requests[0].at - started < 1.5
    assert 2 <= elapsed < 3.5
    statuses = Message.objects.values_list("status", flat=True)
    assert set(statuses) == {MessageStatus.SUCCEEDED}
    assert not Message.objects.filter(lease_until__isnull=False).exists()


def test_a_task_keeps_claiming_while_its_time_lasts(
    sandbox,
    destination,
    receiver,
    queued,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    monkeypatch.setattr(delivery, "TASK_SECONDS", 60)
    for _ in range(delivery.BATCH_SIZE * 2 + 20):
        record_event(sandbox)
    queued.clear()

    with django_capture_on_commit_callbacks(execute=True):
        claimed = delivery.deliver_all_due()

    assert claimed == delivery.BATCH_SIZE * 2 + 20
    assert queued.results == []


def test_a_slow_destinations_backlog_leaves_threads_for_a_fast_one(
    sandbox, receiver, queued, settings, monkeypatch
):
    settings.WEBHOOK_CONCURRENCY = 4
    client_secret(sandbox)
    with Receiver() as slow_receiver:
        slow_receiver.will(*[Answer(200, delay=0.5)] * 8)
        slow = make_destination(sandbox, slow_receiver.url)
        fast = make_destination(sandbox, receiver.url)
        monkeypatch.setitem(delivery._latency, slow.pk, 0.5)
        monkeypatch.setitem(delivery._latency, fast.pk, 0.0002)
        for _ in range(8):
            record_event(sandbox)  # one message to each destination
        started = time.monotonic()

        assert deliver() == 16

        fast_done = max(request.at for request in receiver.requests) - started
        slow_beside_fast = [
            request
            for request in slow_receiver.requests
            if request.at - started <= fast_done
        ]
    # While the fast one had work the slow one had half the threads (2).
    assert len(slow_beside_fast) == 2
    assert fast_done < 0.4
    assert len(receiver.requests) == 8


def test_a_claim_takes_only_a_seconds_worth_of_a_slow_destinations_backlog(
    sandbox, receiver, queued, monkeypatch
):
    client_secret(sandbox)
    slow = make_destination(sandbox, "http://127.0.0.1:9/slow")
    for _ in range(50):
        record_event(sandbox)
    fast = make_destination(sandbox, receiver.url)
    later = [record_event(sandbox) for _ in range(10)]
    monkeypatch.setitem(delivery._latency, slow.pk, 4.0)  # 16 lanes: 4 a second
    monkeypatch.setitem(delivery._latency, fast.pk, 0.0002)

    jobs = delivery.claim_due()

    by_destination = Counter(job.message.destination_id for job in jobs)
    assert by_destination == {slow.pk: 4, fast.pk: 10}
    assert {
        j.message.event_id for j in jobs if j.message.destination_id == fast.pk
    } == {event.id for event in later}
    # The slow destination's other 56 stay due, unclaimed.
    assert (
        Message.objects.filter(destination=slow, lease_until__isnull=True).count() == 56
    )


@pytest.mark.django_db(transaction=True)
def test_slow_backlogs_ahead_in_the_due_order_do_not_keep_a_fast_destination_waiting(
    sandbox, receiver, settings, monkeypatch
):
    # Three slow destinations whose older backlogs fill every claim's window.
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.dummy.DummyBackend",
            "QUEUES": ["default", "sync", "webhooks"],
        }
    }
    client_secret(sandbox)
    slow = [make_destination(sandbox, f"http://127.0.0.1:9/slow{n}") for n in range(3)]
    for _ in range(120):
        record_event(sandbox)
    Message.objects.update(next_attempt_at=timezone.now() - timedelta(hours=1))
    for destination in slow:
        monkeypatch.setitem(delivery._latency, destination.pk, 3.0)  # 5 a second
    fast = make_destination(sandbox, receiver.url)
    monkeypatch.setitem(delivery._latency, fast.pk, 0.0002)
    later = [record_event(sandbox) for _ in range(5)]
    flight_waiting = Counter()

    fast_jobs = []
    for _ in range(5):  # the claims a task makes one after another
        full = [d for d, n in flight_waiting.items() if n >= delivery._full_at(d)]
        jobs = delivery.claim_due(skip=full)
        flight_waiting.update(job.message.destination_id for job in jobs)
        fast_jobs += [job for job in jobs if job.message.destination_id == fast.pk]

    assert {job.message.event_id for job in fast_jobs} >= {e.id for e in later}


def test_a_failing_destinations_backlog_does_not_crowd_out_the_others(
    sandbox, receiver, queued
):
    client_secret(sandbox)
    failing = make_destination(sandbox, "http://127.0.0.1:9/never")
    for _ in range(30):
        record_event(sandbox)
    Destination.objects.filter(pk=failing.pk).update(failing_since=timezone.now())
    healthy = make_destination(sandbox, receiver.url)
    later = [record_event(sandbox) for _ in range(3)]
    Message.objects.filter(destination=healthy).update(
        next_attempt_at=timezone.now() + timedelta(seconds=1)
    )

    first = delivery.claim_due()
    time.sleep(1.1)
    second = delivery.claim_due()

    assert [job.message.destination_id for job in first] == [failing.pk] * 2
    # Its other 31 wait THROTTLE_WAIT instead of filling the next claims.
    assert [job.message.destination_id for job in second] == [healthy.pk] * 3
    assert {job.message.event_id for job in second} == {event.id for event in later}


def test_held_back_messages_queue_one_wake_up_per_delivery_run(
    sandbox, destination, receiver, queued, django_capture_on_commit_callbacks
):
    Destination.objects.filter(pk=destination.pk).update(failing_since=timezone.now())
    for _ in range(12):
        record_event(sandbox)

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):
            delivery.claim_due(limit=3)

    wakes = [r for r in queued.results if r.task.run_after is not None]
    assert len(wakes) == 1


def test_an_error_without_a_full_stop_gets_one_before_what_follows():
    reply = http.Reply(error="Request failed: Remote end closed connection")

    assert delivery._problem(reply) == "Request failed: Remote end closed connection."


def test_many_failures_queue_one_task_for_the_earliest_retry(
    sandbox, destination, receiver, queued, django_capture_on_commit_callbacks
):
    receiver.will(*[Answer(500)] * 20)
    for _ in range(20):
        record_event(sandbox)
    queued.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert deliver() == 20

    retries = Message.objects.values_list("next_attempt_at", flat=True)
    wakes = [result.task.run_after for result in queued.results]
    assert wakes == [min(retries)]


def test_a_run_queues_a_task_for_the_next_retry_it_did_not_find_due(
    sandbox, destination, receiver, queued, django_capture_on_commit_callbacks
):
    event = record_event(sandbox)
    later = timezone.now() + timedelta(minutes=7)
    Message.objects.filter(event=event).update(
        status=MessageStatus.RETRYING, next_attempt_at=later
    )
    queued.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.deliver_all_due() == 0

    assert [result.task.run_after for result in queued.results] == [later]


def test_a_long_problem_is_cut_with_an_ellipsis_keeping_the_outcome():
    text = delivery.cut("x" * 500, "Test events are not retried.")

    assert len(text) == delivery.ERROR_LENGTH
    assert text.endswith("x… Test events are not retried.")


def test_a_test_event_is_sent_once_and_never_retried(
    sandbox, destination, receiver, queued
):
    receiver.will(Answer(500))

    message = outbox.record_test(destination)
    deliver()

    message.refresh_from_db()
    assert message.is_test
    assert message.status == MessageStatus.FAILED
    assert message.last_error == (
        "The receiver answered 500. Test events are not retried."
    )
    assert receiver.requests[0].headers["webhook-id"] == message.event_id
    destination.refresh_from_db()
    assert destination.failing_since is None


def test_a_disabled_destination_gets_nothing(sandbox, destination, receiver, queued):
    event = record_event(sandbox)
    Destination.objects.filter(pk=destination.pk).update(
        enabled=False, disabled_reason="Disabled from the dashboard"
    )

    deliver()

    message = message_of(event)
    assert receiver.requests == []
    assert message.status == MessageStatus.FAILED
    assert message.last_error == "Not sent: Disabled from the dashboard"
    assert message.attempts.count() == 0


def test_resend_starts_a_new_cycle_with_the_same_event_id(
    sandbox, destination, receiver, queued, settings
):
    settings.WEBHOOK_RETRY_DELAYS = [1]
    receiver.will(Answer(500), Answer(500))
    event = record_event(sandbox)
    deliver()
    make_due(message_of(event))
    deliver()
    assert message_of(event).status == MessageStatus.FAILED

    delivery.schedule(message_of(event))
    deliver()

    message = message_of(event)
    assert message.status == MessageStatus.SUCCEEDED
    assert (message.attempt_count, message.cycle_start) == (3, 2)
    assert [r.headers["webhook-id"] for r in receiver.requests] == [event.id] * 3


def test_schedule_many_starts_a_new_cycle_for_each_in_one_go(
    sandbox,
    destination,
    receiver,
    queued,
    settings,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    settings.WEBHOOK_RETRY_DELAYS = [1]
    receiver.will(*[Answer(500)] * 4)
    events = [record_event(sandbox), record_event(sandbox)]
    deliver()
    Message.objects.update(next_attempt_at=timezone.now())
    deliver()
    failed = Message.objects.filter(status=MessageStatus.FAILED)
    assert failed.count() == 2
    queued.clear()

    with django_capture_on_commit_callbacks(execute=True):
        with django_assert_num_queries(1):
            assert delivery.schedule_many(failed.all()) == 2

    assert len(queued.results) == 1
    for event in events:
        message = message_of(event)
        assert (message.status, message.last_error) == (MessageStatus.PENDING, "")
        assert message.cycle_start == message.attempt_count == 2
    # The failing destination's share went out in the last claim; the
    # replay goes THROTTLE_WAIT later, with the next share.
    assert deliver() == 0
    delivery._throttled_until.clear()
    deliver()
    assert len(receiver.requests) == 6
    assert not Message.objects.exclude(status=MessageStatus.SUCCEEDED).exists()


def test_a_failing_destination_gets_only_a_few_messages_a_batch(
    sandbox, destination, receiver, queued
):
    failing = timezone.now() - timedelta(minutes=5)
    Destination.objects.filter(pk=destination.pk).update(failing_since=failing)
    for _ in range(5):
        record_event(sandbox)

    assert deliver() == delivery.FAILING_SHARE == 2

    assert len(receiver.requests) == 2
    assert Message.objects.filter(status=MessageStatus.PENDING).count() == 3
    destination.refresh_from_db()
    assert destination.failing_since is None  # it answered: full speed again


def test_held_back_messages_get_a_task_for_when_they_may_go(
    sandbox, destination, receiver, queued, django_capture_on_commit_callbacks
):
    paused_until = timezone.now() + timedelta(minutes=2)
    Destination.objects.filter(pk=destination.pk).update(paused_until=paused_until)
    event = record_event(sandbox)

    with django_capture_on_commit_callbacks(execute=True):
        assert deliver() == 0

    assert receiver.requests == []
    wake = message_of(event).next_attempt_at
    assert paused_until < wake < paused_until + timedelta(seconds=6)
    assert [r.task.run_after for r in queued.results] == [wake]


def test_queries_grow_with_batches_not_with_messages(
    sandbox, destination, receiver, queued, django_assert_max_num_queries
):
    for _ in range(60):
        record_event(sandbox)

    # Five to claim, then five per group of outcomes (one every 0.5 s at
    # most); a query or more per message would be 300.
    with django_assert_max_num_queries(30):
        assert deliver() == 60

    assert Message.objects.filter(status=MessageStatus.SUCCEEDED).count() == 60


def test_proxy_settings_in_the_environment_are_ignored(
    sandbox, destination, receiver, queued, monkeypatch
):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    monkeypatch.setattr(http, "_pool", http._Pool())  # connections opened under them
    event = record_event(sandbox)

    deliver()

    assert message_of(event).status == MessageStatus.SUCCEEDED
    assert len(receiver.requests) == 1


def test_retry_after_may_be_an_http_date():
    in_ten_minutes = timezone.now() + timedelta(minutes=10)
    header = in_ten_minutes.strftime("%a, %d %b %Y %H:%M:%S GMT")
    reply = http.Reply(status_code=503, headers={"retry-after": header})

    wait = delivery.retry_after(reply, cap=3600)

    assert timedelta(minutes=9) < wait <= timedelta(minutes=10)
    assert delivery.retry_after(reply, cap=60) == timedelta(seconds=60)
    garbled = http.Reply(status_code=503, headers={"retry-after": "soon"})
    assert delivery.retry_after(garbled, cap=60) is None


def waiting_delivery_tasks():
    return DBTaskResult.objects.ready().filter(task_path="webhooks.tasks.deliver_due")


def test_events_queue_no_second_task_while_one_waits_to_start(
    sandbox, destination, django_capture_on_commit_callbacks
):
    # The database backend, as in production: a row per queued task.
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            record_event(sandbox)

    assert waiting_delivery_tasks().count() == 1


def test_a_task_queued_for_later_does_not_stand_in_for_one_now(
    sandbox, destination, django_capture_on_commit_callbacks
):
    delivery.enqueue(run_after=timezone.now() + timedelta(minutes=5))

    with django_capture_on_commit_callbacks(execute=True):
        record_event(sandbox)

    assert waiting_delivery_tasks().count() == 1
    assert DBTaskResult.objects.count() == 2


def test_a_destination_deleted_while_its_message_is_sent_fails_no_other_outcome(
    sandbox, receiver, queued
):
    client_secret(sandbox)
    doomed = make_destination(sandbox, receiver.url)
    kept = make_destination(sandbox, receiver.url)
    record_event(sandbox)
    jobs = delivery.claim_due()
    assert len(jobs) == 2

    doomed.delete()  # as the page does, while the requests are out
    delivery.record_all([(job, delivery.send(job)) for job in jobs])
    connection.check_constraints()  # what committing would check

    message = Message.objects.get()
    assert message.destination == kept
    assert message.status == MessageStatus.SUCCEEDED
    assert message.attempts.count() == 1


def test_a_claim_takes_turns_across_destinations_not_the_oldest_backlog(
    sandbox, receiver, queued
):
    # The oldest due across all destinations filled every batch with one
    # backlog; a fast destination's messages waited minutes behind it.
    client_secret(sandbox)
    backlogged = make_destination(sandbox, "http://127.0.0.1:9/backlog")
    for _ in range(delivery.BATCH_SIZE + 10):
        record_event(sandbox)
    Message.objects.update(next_attempt_at=timezone.now() - timedelta(hours=1))
    fresh = make_destination(sandbox, receiver.url)
    later = [record_event(sandbox) for _ in range(5)]

    jobs = delivery.claim_due()

    claimed = Counter(job.message.destination_id for job in jobs)
    assert claimed[fresh.pk] == 5
    assert claimed[backlogged.pk] == delivery.BATCH_SIZE - 5
    to_fresh = {
        job.message.event_id for job in jobs if job.message.destination == fresh
    }
    assert to_fresh == {event.id for event in later}


def test_a_claim_takes_no_more_of_a_failing_destination_than_its_share(
    sandbox, receiver, queued
):
    failing = make_destination(
        sandbox, "http://127.0.0.1:9/failing", failing_since=timezone.now()
    )
    for _ in range(10):
        record_event(sandbox)

    jobs = delivery.claim_due()

    assert len(jobs) == delivery.FAILING_SHARE
    untouched = Message.objects.filter(destination=failing, lease_until__isnull=True)
    assert untouched.count() == 10 - delivery.FAILING_SHARE


def test_a_410_fails_the_destinations_whole_backlog_not_just_what_was_sent(
    sandbox, destination, receiver, queued
):
    receiver.will(Answer(410))
    record_event(sandbox)
    jobs = delivery.claim_due()
    for _ in range(4):
        record_event(sandbox)  # waiting behind the one on the wire

    delivery.record_all([(job, delivery.send(job)) for job in jobs])

    assert Message.objects.filter(status=MessageStatus.FAILED).count() == 5
    waiting = Message.objects.exclude(pk=jobs[0].message.pk)
    gone = "Not sent: The receiver answered 410"
    assert all(message.last_error.startswith(gone) for message in waiting)


def test_a_failure_on_the_wire_to_a_destination_disabled_meanwhile_is_not_retried(
    sandbox, destination, receiver, queued
):
    receiver.will(Answer(500))
    record_event(sandbox)
    jobs = delivery.claim_due()

    services.destination_disable(Destination.objects.get(pk=destination.pk))
    delivery.record_all([(job, delivery.send(job)) for job in jobs])

    message = Message.objects.get()
    assert message.status == MessageStatus.FAILED
    assert message.next_attempt_at is None
    assert message.attempts.get().status_code == 500
