"""The delivery log, a message's page, resend and replay."""

import base64
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from rutterdash.environments import Environment
from rutterdash.scoping import Scope
from tests.conftest import signed_in_client
from tests.webhooks_page_support import (  # noqa: F401 (autouse fixture)
    attempt_on,
    destination_in,
    event_in,
    message_to,
    safe_addresses,
)
from webhooks import forms, services, views
from webhooks.models import Message, MessageStatus

LOG = reverse("webhooks:messages")


@pytest.fixture
def destination(sandbox):
    return destination_in(sandbox)


def _listed(response):
    return [message.pk for message in response.context["log"]]


def _message_url(name, message):
    return reverse(f"webhooks:{name}", args=[message.pk])


# The log and its filters


def test_the_log_lists_this_environments_messages_newest_first(
    developer_client, destination
):
    older = message_to(destination, ago=timedelta(hours=2))
    newer = message_to(destination, ago=timedelta(hours=1))

    response = developer_client.get(LOG)

    assert response.status_code == 200
    assert _listed(response) == [newer.pk, older.pk]


def test_the_log_leaves_out_other_environments_and_organisations(
    developer_client, destination, production, outsider
):
    mine = message_to(destination)
    message_to(destination_in(production))
    client = signed_in_client(outsider)
    theirs = message_to(destination_in(_scope_of(outsider)))

    response = developer_client.get(LOG)

    assert _listed(response) == [mine.pk]
    assert _listed(client.get(LOG)) == [theirs.pk]


def _scope_of(user):
    organisation = user.memberships.get().organisation
    return Scope(organisation, Environment.SANDBOX)


def test_the_log_filters_by_status(developer_client, destination):
    failed = message_to(destination, status=MessageStatus.FAILED)
    message_to(destination, status=MessageStatus.SUCCEEDED)

    response = developer_client.get(LOG, {"status": "failed"})

    assert _listed(response) == [failed.pk]


def test_the_log_filters_by_event_type(developer_client, destination, sandbox):
    disabled = message_to(destination, event_in(sandbox, "CONNECTION_DISABLED"))
    message_to(destination, event_in(sandbox, "INITIAL_UPDATE"))

    response = developer_client.get(LOG, {"event_type": "CONNECTION_DISABLED"})

    assert _listed(response) == [disabled.pk]


def test_the_log_filters_by_connection(developer_client, destination, sandbox):
    connection_id = uuid.uuid4()
    theirs = message_to(destination, event_in(sandbox, connection_id=connection_id))
    message_to(destination, event_in(sandbox, connection_id=uuid.uuid4()))

    response = developer_client.get(LOG, {"connection": str(connection_id)})

    assert _listed(response) == [theirs.pk]


def test_the_log_filters_by_destination(developer_client, destination, sandbox):
    other = destination_in(sandbox, "https://other.example.com/hook")
    wanted = message_to(other)
    message_to(destination)

    response = developer_client.get(LOG, {"destination": str(other.pk)})

    assert _listed(response) == [wanted.pk]


def test_the_log_filters_by_time_range(developer_client, destination):
    message_to(destination, ago=timedelta(days=3))
    inside = message_to(destination, ago=timedelta(days=2))
    message_to(destination, ago=timedelta(hours=1))
    since = timezone.now() - timedelta(days=2, hours=1)
    until = timezone.now() - timedelta(days=1)

    response = developer_client.get(
        LOG,
        {"since": f"{since:%Y-%m-%dT%H:%M}", "until": f"{until:%Y-%m-%dT%H:%M}"},
    )

    assert _listed(response) == [inside.pk]


def test_the_log_finds_test_events(developer_client, destination, sandbox):
    test = message_to(destination, event_in(sandbox, "TEST_EVENT"))
    message_to(destination)

    response = developer_client.get(LOG, {"event_type": "TEST_EVENT"})

    assert _listed(response) == [test.pk]


@pytest.mark.parametrize(
    ("params", "field", "error"),
    [
        ({"connection": "not-an-id"}, "connection", "Enter a connection id"),
        ({"status": "lost"}, "status", "Select a valid choice"),
        ({"event_type": "NOPE"}, "event_type", "Select a valid choice"),
        ({"destination": str(uuid.uuid4())}, "destination", "Select a valid choice"),
        ({"since": "yesterday"}, "since", "Enter a valid date/time"),
        (
            {"since": "2026-01-02T00:00", "until": "2026-01-01T00:00"},
            "until",
            "The end must not be before the start.",
        ),
    ],
)
def test_a_bad_filter_is_shown_next_to_its_field(
    developer_client, destination, params, field, error
):
    message_to(destination)

    response = developer_client.get(LOG, params)

    page = response.content.decode()
    assert response.status_code == 200
    assert error in str(response.context["form"].errors[field])
    assert "Fix the filters above to see messages." in page
    assert response.context["log"] == []


def test_another_environments_destination_is_not_a_filter_choice(
    developer_client, production
):
    elsewhere = destination_in(production)

    response = developer_client.get(LOG, {"destination": str(elsewhere.pk)})

    assert "destination" in response.context["form"].errors


def test_the_log_pages_by_position_not_offset(
    developer_client, destination, monkeypatch
):
    monkeypatch.setattr(views, "LOG_PAGE_SIZE", 2)
    made = [message_to(destination, ago=timedelta(minutes=n)) for n in range(5)]

    first = developer_client.get(LOG)
    second = developer_client.get(LOG, {"before": first.context["older"]})
    third = developer_client.get(LOG, {"before": second.context["older"]})

    assert _listed(first) == [made[0].pk, made[1].pk]
    assert _listed(second) == [made[2].pk, made[3].pk]
    assert _listed(third) == [made[4].pk]
    assert third.context["older"] is None


def test_paging_keeps_the_filters(developer_client, destination, monkeypatch):
    monkeypatch.setattr(views, "LOG_PAGE_SIZE", 1)
    failed = [
        message_to(destination, status=MessageStatus.FAILED, ago=timedelta(minutes=n))
        for n in range(2)
    ]
    message_to(destination, status=MessageStatus.SUCCEEDED)

    first = developer_client.get(LOG, {"status": "failed"})
    page = first.content.decode()
    older_link = f"?status=failed&amp;before={first.context['older']}"

    assert _listed(first) == [failed[0].pk]
    assert older_link in page


def test_messages_created_in_the_same_instant_are_neither_lost_nor_repeated(
    developer_client, destination, monkeypatch
):
    monkeypatch.setattr(views, "LOG_PAGE_SIZE", 2)
    made = [message_to(destination) for _ in range(3)]
    Message.objects.update(created=timezone.now())

    first = developer_client.get(LOG)
    second = developer_client.get(LOG, {"before": first.context["older"]})

    assert sorted(_listed(first) + _listed(second)) == sorted(m.pk for m in made)


def test_a_damaged_page_link_is_a_bad_request(developer_client, destination):
    response = developer_client.get(LOG, {"before": "!!not-a-cursor"})

    assert response.status_code == 400


def test_a_cursor_without_a_time_zone_is_a_bad_request(developer_client, destination):
    cursor = base64.urlsafe_b64encode(f"2026-01-01T00:00:00|{uuid.uuid4()}".encode())

    response = developer_client.get(LOG, {"before": cursor.decode()})

    assert response.status_code == 400


def test_a_cursor_round_trips(destination):
    message = message_to(destination)

    assert forms.decode_cursor(forms.encode_cursor(message)) == (
        message.created,
        message.pk,
    )


# A message's page


def test_the_message_page_shows_payload_attempts_and_next_retry(
    developer_client, destination, sandbox
):
    event = event_in(sandbox, "CONNECTION_DISABLED", reason="Bank revoked access")
    message = message_to(destination, event, status=MessageStatus.RETRYING)
    message.next_attempt_at = timezone.now() + timedelta(minutes=5)
    message.attempt_count = 2
    message.save()
    headers = {"webhook-id": event.id, "X-Rutter-Signature": "sha256=abc"}
    attempt_on(message, 500, duration_ms=812, response_excerpt="upstream broke")
    attempt_on(message, None, duration_ms=15000, error="Timed out after 15 s")
    message.attempts.update(request_headers=headers)

    response = developer_client.get(_message_url("message", message))

    page = response.content.decode()
    assert response.status_code == 200
    assert "&quot;reason&quot;: &quot;Bank revoked access&quot;" in page
    assert "HTTP 500" in page
    assert "812 ms" in page
    assert "upstream broke" in page
    assert "Timed out after 15 s" in page
    assert "sha256=abc" in page
    assert response.context["next_step"]["code"] == "scheduled"
    assert response.context["next_step"]["when"] == message.next_attempt_at


def test_an_attempt_on_the_wire_shows_as_in_flight(developer_client, destination):
    message = message_to(destination, status=MessageStatus.PENDING)
    attempt_on(message, 503, duration_ms=40)
    sent_at = timezone.now()
    Message.objects.filter(pk=message.pk).update(
        attempt_count=2,
        last_attempt_at=sent_at,
        next_attempt_at=sent_at,
        lease_until=sent_at + timedelta(minutes=2),
    )

    response = developer_client.get(_message_url("message", message))

    page = response.content.decode()
    assert "HTTP 503" in page
    assert "Attempt 2:" in page and "In flight" in page
    assert response.context["next_step"]["code"] == "in_flight"
    assert response.context["next_step"]["when"] is None


def test_an_expired_lease_is_not_shown_as_in_flight(developer_client, destination):
    message = message_to(destination, status=MessageStatus.PENDING)
    past = timezone.now() - timedelta(seconds=1)
    Message.objects.filter(pk=message.pk).update(
        attempt_count=1, last_attempt_at=past, next_attempt_at=past, lease_until=past
    )

    page = developer_client.get(_message_url("message", message)).content.decode()

    assert "In flight" not in page


def test_a_finished_message_has_no_next_retry(developer_client, destination):
    message = message_to(destination, status=MessageStatus.FAILED)

    response = developer_client.get(_message_url("message", message))

    assert response.context["next_step"]["code"] == "none"
    assert response.context["next_step"]["when"] is None
    assert "Resend" in response.content.decode()


def test_another_organisations_message_is_not_found(outsider_client, destination):
    message = message_to(destination)

    assert outsider_client.get(_message_url("message", message)).status_code == 404
    assert outsider_client.post(_message_url("resend", message)).status_code == 404


def test_the_other_environments_message_is_not_found(admin, destination):
    message = message_to(destination)
    client = signed_in_client(admin, Environment.PRODUCTION)

    assert client.get(_message_url("message", message)).status_code == 404


# Resend


def test_resending_starts_a_fresh_cycle_with_the_same_event(
    developer_client, destination, task_queue, django_capture_on_commit_callbacks
):
    message = message_to(destination, status=MessageStatus.FAILED)
    Message.objects.filter(pk=message.pk).update(attempt_count=7)

    with django_capture_on_commit_callbacks(execute=True):
        response = developer_client.post(_message_url("resend", message))

    message.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == _message_url("message", message)
    assert message.status == MessageStatus.PENDING
    assert message.cycle_start == 7
    assert Message.objects.count() == 1
    assert len(task_queue.results) == 1


def test_a_message_still_being_delivered_is_not_resent(developer_client, destination):
    message = message_to(destination, status=MessageStatus.RETRYING)

    response = developer_client.post(_message_url("resend", message), follow=True)

    message.refresh_from_db()
    assert "still being delivered" in response.content.decode()
    assert message.status == MessageStatus.RETRYING


def test_nothing_is_resent_to_a_disabled_destination(developer_client, destination):
    message = message_to(destination, status=MessageStatus.FAILED)
    services.destination_disable(destination)

    response = developer_client.post(_message_url("resend", message), follow=True)

    message.refresh_from_db()
    assert "Enable this destination" in response.content.decode()
    assert message.status == MessageStatus.FAILED


def test_resend_needs_a_post(developer_client, destination):
    message = message_to(destination, status=MessageStatus.FAILED)

    assert developer_client.get(_message_url("resend", message)).status_code == 405


# Replay


def _replay_url(destination):
    return reverse("webhooks:replay", args=[destination.pk])


def _since(delta):
    return f"{timezone.now() - delta:%Y-%m-%dT%H:%M}"


def _failed_history(destination):
    """Three failed in the last day, one failed last week, one succeeded, one test."""
    recent = [
        message_to(destination, status=MessageStatus.FAILED, ago=timedelta(hours=n))
        for n in (1, 2, 3)
    ]
    message_to(destination, status=MessageStatus.FAILED, ago=timedelta(days=7))
    message_to(destination, status=MessageStatus.SUCCEEDED, ago=timedelta(hours=1))
    test = message_to(destination, status=MessageStatus.FAILED, ago=timedelta(hours=1))
    Message.objects.filter(pk=test.pk).update(is_test=True)
    return recent


def test_the_replay_step_counts_before_sending(developer_client, destination):
    _failed_history(destination)

    response = developer_client.get(
        _replay_url(destination), {"since": _since(timedelta(days=1))}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert response.context["count"] == 3
    assert "Replay 3 messages" in page
    assert Message.objects.filter(status=MessageStatus.PENDING).count() == 0


def test_confirming_replays_exactly_the_counted_messages(
    developer_client, destination, task_queue, django_capture_on_commit_callbacks
):
    recent = _failed_history(destination)

    with django_capture_on_commit_callbacks(execute=True):
        response = developer_client.post(
            _replay_url(destination), {"since": _since(timedelta(days=1))}, follow=True
        )

    pending = set(
        Message.objects.filter(status=MessageStatus.PENDING).values_list(
            "pk", flat=True
        )
    )
    assert "Replaying 3 failed messages." in response.content.decode()
    assert pending == {message.pk for message in recent}
    assert len(task_queue.results) == 1


def test_replaying_twice_sends_nothing_the_second_time(developer_client, destination):
    _failed_history(destination)
    since = {"since": _since(timedelta(days=1))}
    developer_client.post(_replay_url(destination), since)

    response = developer_client.post(_replay_url(destination), since, follow=True)

    assert "No failed messages to replay in that period." in response.content.decode()


def test_a_replay_time_in_the_future_is_refused(developer_client, destination):
    later = f"{timezone.now() + timedelta(days=1):%Y-%m-%dT%H:%M}"

    response = developer_client.get(_replay_url(destination), {"since": later})

    assert response.status_code == 200
    assert "Choose a time in the past." in str(response.context["form"].errors)
    assert "count" not in response.context


def test_a_replay_without_a_time_is_refused(developer_client, destination):
    message_to(destination, status=MessageStatus.FAILED)

    response = developer_client.post(_replay_url(destination), {"since": ""})

    assert "This field is required." in str(response.context["form"].errors)
    assert Message.objects.get().status == MessageStatus.FAILED


def test_nothing_is_replayed_to_a_disabled_destination(developer_client, destination):
    message_to(destination, status=MessageStatus.FAILED)
    services.destination_disable(destination)

    response = developer_client.post(
        _replay_url(destination), {"since": _since(timedelta(days=1))}, follow=True
    )

    assert "Enable this destination" in response.content.decode()
    assert Message.objects.get().status == MessageStatus.FAILED


def test_a_log_page_costs_three_queries_however_many_destinations(
    destination, sandbox, django_assert_num_queries
):
    others = [
        destination_in(sandbox, f"https://hooks.example.com/{n}") for n in range(4)
    ]
    for each in [destination, *others]:
        for _ in range(3):
            message_to(each)

    with django_assert_num_queries(3):
        page, more = services.message_log(sandbox, {}, None, 10)

    assert len(page) == 10
    assert more
    assert all(message.event.type for message in page)


def test_the_log_service_ignores_a_destination_outside_the_scope(sandbox, production):
    elsewhere = destination_in(production)
    message_to(elsewhere)

    page, more = services.message_log(sandbox, {"destination": elsewhere.pk})

    assert page == []
    assert not more
