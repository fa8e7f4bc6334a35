"""Disabling fails a destination's backlog at once; the page says what waits and why.

Issue 5 follow-ups: disable semantics (all open, unleased messages fail at
once, by the page, the edit form and the configs API), what re-enabling does
to the failure clock, the backlog beside the strip, an honest "next attempt",
destination filter labels, the test event without a confirm, the delete log.
"""

import logging
import re
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from rutterdash.environments import Environment
from tests.api_support import client_for
from tests.webhooks_page_support import (  # noqa: F401 (autouse fixture)
    destination_in,
    event_in,
    message_to,
    safe_addresses,
)
from webhooks import delivery, services
from webhooks.forms import LogFilterForm
from webhooks.models import Destination, Message, MessageStatus

OPEN = (MessageStatus.PENDING, MessageStatus.RETRYING)


@pytest.fixture
def destination(sandbox):
    return destination_in(sandbox, description="Main hook")


def _url(name, pk):
    return reverse(f"webhooks:{name}", args=[pk])


def _backlog(destination, pending=3, retrying=2, leased=1, finished=True):
    """Open messages of every kind, and finished ones that must not change."""
    now = timezone.now()
    rows = {"pending": [], "retrying": [], "leased": [], "expired": [], "done": []}
    for _ in range(pending):
        message = message_to(destination, status=MessageStatus.PENDING)
        Message.objects.filter(pk=message.pk).update(next_attempt_at=now)
        rows["pending"].append(message)
    for _ in range(retrying):
        message = message_to(destination, status=MessageStatus.RETRYING)
        Message.objects.filter(pk=message.pk).update(
            next_attempt_at=now + timedelta(hours=1), attempt_count=2
        )
        rows["retrying"].append(message)
    for _ in range(leased):
        message = message_to(destination, status=MessageStatus.RETRYING)
        Message.objects.filter(pk=message.pk).update(
            next_attempt_at=now, attempt_count=1, lease_until=now + timedelta(minutes=2)
        )
        rows["leased"].append(message)
    # A worker died holding this one: its lease ran out, nobody sends it.
    message = message_to(destination, status=MessageStatus.PENDING)
    Message.objects.filter(pk=message.pk).update(
        next_attempt_at=now, attempt_count=1, lease_until=now - timedelta(seconds=5)
    )
    rows["expired"].append(message)
    if finished:
        for status in (MessageStatus.SUCCEEDED, MessageStatus.FAILED):
            message = message_to(destination, status=status)
            Message.objects.filter(pk=message.pk).update(last_error="kept")
            rows["done"].append(message)
    return rows


def _statuses(messages):
    pks = [m.pk for m in messages]
    return sorted(Message.objects.filter(pk__in=pks).values_list("status", flat=True))


# 1. Disabling fails the whole open backlog, except what is on the wire


def test_fail_open_messages_fails_every_unleased_open_message(destination):
    rows = _backlog(destination)

    failed = services.fail_open_messages(destination, "Receiver migrating.")

    assert failed == 3 + 2 + 1  # pending, retrying, expired lease
    closed = Message.objects.filter(
        pk__in=[m.pk for m in rows["pending"] + rows["retrying"] + rows["expired"]]
    )
    assert {m.status for m in closed} == {MessageStatus.FAILED}
    assert {m.last_error for m in closed} == {"Not sent: Receiver migrating."}
    assert {m.next_attempt_at for m in closed} == {None}
    leased = Message.objects.get(pk=rows["leased"][0].pk)
    assert leased.status == MessageStatus.RETRYING
    assert leased.lease_until > timezone.now()
    assert leased.next_attempt_at is not None
    done = Message.objects.filter(pk__in=[m.pk for m in rows["done"]])
    assert sorted(m.status for m in done) == ["failed", "succeeded"]
    assert {m.last_error for m in done} == {"kept"}


def test_fail_open_messages_leaves_other_destinations_alone(destination, sandbox):
    other = destination_in(sandbox, "https://other.example.com/hook")
    theirs = _backlog(other, finished=False)

    services.fail_open_messages(destination, "Gone.")

    assert set(_statuses(theirs["pending"] + theirs["retrying"])) <= set(OPEN)


def test_fail_open_messages_takes_a_primary_key_and_cuts_a_long_reason(destination):
    _backlog(destination, pending=1, retrying=0, leased=0, finished=False)

    failed = services.fail_open_messages(destination.pk, "x" * 400)

    assert failed == 2
    errors = set(destination.messages.values_list("last_error", flat=True))
    (error,) = errors
    assert len(error) == 300 and error.startswith("Not sent: xxx")
    assert error.endswith("…")


def test_fail_open_messages_with_nothing_open_fails_nothing(destination):
    message_to(destination, status=MessageStatus.SUCCEEDED)
    assert services.fail_open_messages(destination, "Why not.") == 0


def test_disabling_on_the_page_fails_the_backlog_and_says_how_many(
    developer_client, destination
):
    rows = _backlog(destination)

    response = developer_client.post(
        _url("disable", destination.pk), {"reason": "Receiver migrating"}, follow=True
    )

    page = response.content.decode()
    assert "6 messages that were waiting to be sent now show as failed" in page
    assert "Replay failed messages" in page
    destination.refresh_from_db()
    assert not destination.enabled
    assert destination.disabled_reason == "Receiver migrating"
    assert set(_statuses(rows["pending"] + rows["retrying"])) == {"failed"}
    assert _statuses(rows["leased"]) == ["retrying"]
    assert not destination.messages.filter(
        status__in=OPEN, lease_until__isnull=True
    ).exists()
    failed = destination.messages.get(pk=rows["pending"][0].pk)
    assert failed.last_error == "Not sent: Receiver migrating"


def test_disabling_with_nothing_waiting_says_so(developer_client, destination):
    response = developer_client.post(_url("disable", destination.pk), follow=True)

    assert "No messages were waiting to be sent." in response.content.decode()


def test_disabling_twice_fails_nothing_more_and_keeps_the_reason(
    developer_client, destination
):
    developer_client.post(_url("disable", destination.pk), {"reason": "First"})
    late = message_to(destination, status=MessageStatus.PENDING)

    response = developer_client.post(
        _url("disable", destination.pk), {"reason": "Second"}, follow=True
    )

    assert "already disabled" in response.content.decode()
    destination.refresh_from_db()
    assert destination.disabled_reason == "First"
    assert Message.objects.get(pk=late.pk).status == MessageStatus.PENDING


def test_a_too_long_reason_disables_and_fails_nothing(developer_client, destination):
    rows = _backlog(destination, finished=False)

    response = developer_client.post(
        _url("disable", destination.pk), {"reason": "x" * 301}
    )

    assert response.status_code == 400
    destination.refresh_from_db()
    assert destination.enabled
    assert set(_statuses(rows["pending"])) == {"pending"}


def test_unticking_enabled_on_the_edit_form_fails_the_backlog_too(
    developer_client, destination
):
    rows = _backlog(destination, finished=False)
    form = {
        "url": destination.url,
        "description": "Main hook",
        "payload_version": destination.payload_version,
        "environment": "sandbox",
    }  # "enabled" left out: unticked

    response = developer_client.post(_url("edit", destination.pk), form, follow=True)

    page = response.content.decode()
    assert "Saved and disabled." in page
    assert "6 messages that were waiting" in page
    assert set(_statuses(rows["pending"] + rows["retrying"])) == {"failed"}
    assert _statuses(rows["leased"]) == ["retrying"]


def test_saving_an_enabled_destination_fails_nothing(developer_client, destination):
    rows = _backlog(destination, finished=False)
    form = {
        "url": destination.url,
        "description": "Renamed",
        "payload_version": destination.payload_version,
        "enabled": "on",
        "environment": "sandbox",
    }

    response = developer_client.post(_url("edit", destination.pk), form, follow=True)

    assert "Saved." in response.content.decode()
    assert set(_statuses(rows["pending"])) == {"pending"}


def test_disabling_through_the_api_fails_the_backlog(organisation, destination):
    api = client_for(organisation, Environment.SANDBOX)
    rows = _backlog(destination)

    response = api.patch(
        f"/versioned/configs/webhooks/{destination.pk}",
        {"disabled": True},
        content_type="application/json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["webhook"]["disabled"] is True
    assert set(_statuses(rows["pending"] + rows["retrying"])) == {"failed"}
    assert _statuses(rows["leased"]) == ["retrying"]
    failed = Message.objects.get(pk=rows["retrying"][0].pk)
    assert failed.last_error == "Not sent: Disabled through the API."


def test_a_worker_claims_nothing_of_a_disabled_destinations_backlog(destination):
    _backlog(destination, leased=0, finished=False)

    services.destination_disable(destination)

    assert delivery.claim_due() == []
    assert not destination.messages.filter(status__in=OPEN).exists()


def test_replay_after_enabling_again_makes_them_pending(developer_client, destination):
    rows = _backlog(destination, finished=False)
    since = timezone.now() - timedelta(hours=1)
    developer_client.post(_url("disable", destination.pk))
    developer_client.post(_url("enable", destination.pk))

    count = services.replay_failed(destination, since)

    assert count == 6
    replayed = rows["pending"] + rows["retrying"] + rows["expired"]
    assert set(_statuses(replayed)) == {"pending"}
    assert not Message.objects.filter(
        pk__in=[m.pk for m in replayed], next_attempt_at__isnull=True
    ).exists()


def test_replay_while_still_disabled_is_refused(destination):
    _backlog(destination, finished=False)
    services.destination_disable(destination)

    with pytest.raises(services.SendRefused):
        services.replay_failed(destination, timezone.now() - timedelta(hours=1))


@pytest.mark.django_db(transaction=True)
def test_a_message_a_worker_is_claiming_is_left_to_it(sandbox):
    """A claim holds its rows locked; the UPDATE waits, then sees the lease."""
    destination = destination_in(sandbox)
    message = message_to(destination, status=MessageStatus.PENDING)
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    locked, release = threading.Event(), threading.Event()

    def claim():
        try:
            with transaction.atomic():
                rows = Message.objects.select_for_update().filter(pk=message.pk)
                list(rows)
                locked.set()
                release.wait(5)
                rows.update(lease_until=timezone.now() + timedelta(minutes=2))
        finally:
            connection.close()

    worker = threading.Thread(target=claim)
    worker.start()
    assert locked.wait(5)
    threading.Timer(0.3, release.set).start()
    failed = services.fail_open_messages(destination, "Stopped.")
    worker.join(5)

    assert failed == 0
    assert Message.objects.get(pk=message.pk).status == MessageStatus.PENDING


# 2. Enabling again starts the failure clock over; enabling twice does not


def test_enabling_after_a_disable_clears_failing_since_and_the_pause(
    developer_client, destination
):
    ago = timezone.now() - timedelta(days=4)
    Destination.objects.filter(pk=destination.pk).update(
        failing_since=ago, paused_until=timezone.now() + timedelta(minutes=5)
    )
    developer_client.post(_url("disable", destination.pk))

    response = developer_client.post(_url("enable", destination.pk), follow=True)

    assert "Enabled" in response.content.decode()
    destination.refresh_from_db()
    assert destination.enabled
    assert destination.failing_since is None
    assert destination.paused_until is None
    assert destination.disabled_reason == ""


def test_enabling_after_an_automatic_disable_clears_failing_since(destination):
    since = timezone.now() - timedelta(days=6)
    Destination.objects.filter(pk=destination.pk).update(failing_since=since)
    delivery.disable(destination, "Every delivery failed.")
    destination.refresh_from_db()

    assert services.destination_enable(destination) is True

    destination.refresh_from_db()
    assert destination.failing_since is None


def test_enabling_an_enabled_destination_keeps_its_failure_clock(
    developer_client, destination
):
    since = timezone.now() - timedelta(days=4)
    paused = timezone.now() + timedelta(minutes=5)
    Destination.objects.filter(pk=destination.pk).update(
        failing_since=since, paused_until=paused
    )

    response = developer_client.post(_url("enable", destination.pk), follow=True)

    assert "already enabled" in response.content.decode()
    destination.refresh_from_db()
    assert destination.failing_since == since
    assert destination.paused_until == paused


def test_the_api_enabling_an_enabled_destination_keeps_its_clock(
    organisation, destination
):
    since = timezone.now() - timedelta(days=4)
    Destination.objects.filter(pk=destination.pk).update(failing_since=since)
    api = client_for(organisation, Environment.SANDBOX)

    api.patch(
        f"/versioned/configs/webhooks/{destination.pk}",
        {"disabled": False},
        content_type="application/json",
    )

    destination.refresh_from_db()
    assert destination.failing_since == since


def test_a_failing_destination_says_when_it_would_be_disabled(
    developer_client, destination, settings
):
    settings.WEBHOOK_DISABLE_AFTER = 5 * 24 * 3600
    since = timezone.now().replace(microsecond=0) - timedelta(days=1)
    Destination.objects.filter(pk=destination.pk).update(failing_since=since)
    cutoff = since + timedelta(days=5)

    page = developer_client.get(_url("destination", destination.pk)).content.decode()

    assert (
        f"fail after {cutoff:%d %b %Y %H:%M} UTC, it is disabled automatically" in page
    )


def test_the_disabled_page_explains_what_enabling_does(
    developer_client, destination, settings
):
    settings.WEBHOOK_DISABLE_AFTER = 36 * 3600
    services.destination_disable(destination)

    page = developer_client.get(_url("destination", destination.pk)).content.decode()

    assert "keep failing for 1 day 12 hours" in page
    assert "not sent by themselves" in page


@pytest.mark.parametrize(
    "seconds, words",
    [
        (432000, "5 days"),
        (90, "1 minute 30 seconds"),
        (3600, "1 hour"),
        (0, "0 seconds"),
    ],
)
def test_disable_after_in_words(settings, seconds, words):
    settings.WEBHOOK_DISABLE_AFTER = seconds
    assert services.disable_after() == words


# 3. The backlog beside the strip


def test_open_backlogs_counts_open_messages_per_destination_in_one_query(
    destination, sandbox, django_assert_num_queries
):
    other = destination_in(sandbox, "https://other.example.com/hook")
    idle = destination_in(sandbox, "https://other.example.com/idle")
    _backlog(destination)  # 3 pending, 2 retrying, 1 leased, 1 expired lease
    oldest = message_to(other, status=MessageStatus.PENDING, ago=timedelta(hours=3))
    message_to(other, status=MessageStatus.RETRYING)
    message_to(idle, status=MessageStatus.SUCCEEDED)

    with django_assert_num_queries(1):
        backlogs = services.open_backlogs([destination, other, idle])

    assert backlogs[destination.pk]["open"] == 7
    assert backlogs[other.pk] == {"open": 2, "oldest": oldest.created}
    assert idle.pk not in backlogs


def test_the_list_shows_the_backlog_beside_the_strip(
    developer_client, destination, sandbox
):
    quiet = destination_in(sandbox, "https://other.example.com/quiet")
    Message.objects.bulk_create(
        [
            Message(
                event=event_in(sandbox),
                destination=destination,
                status=MessageStatus.PENDING,
            )
            for _ in range(12)
        ]
    )
    message_to(quiet, status=MessageStatus.SUCCEEDED)

    response = developer_client.get(reverse("webhooks:index"))

    page = response.content.decode()
    assert "<strong>12</strong> messages not yet delivered" in page
    assert page.count("not yet delivered") == 1
    assert "Nothing sent in the last 24 hours" in page


def test_the_list_costs_the_same_queries_however_many_destinations(
    developer_client, sandbox, django_assert_max_num_queries
):
    for n in range(3):
        message_to(
            destination_in(sandbox, f"https://hooks.example.com/{n}"), status="pending"
        )
    with django_assert_max_num_queries(50) as few:
        developer_client.get(reverse("webhooks:index"))
    for n in range(3, 9):
        message_to(
            destination_in(sandbox, f"https://hooks.example.com/{n}"), status="pending"
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        developer_client.get(reverse("webhooks:index"))


def test_the_destination_page_shows_its_backlog(developer_client, destination):
    message_to(destination, status=MessageStatus.RETRYING)

    page = developer_client.get(_url("destination", destination.pk)).content.decode()

    assert "<strong>1</strong> message not yet delivered" in page


# 4. An honest next attempt


def _text(response):
    """The page's text, without tags."""
    return re.sub(r"<[^>]+>", "", response.content.decode())


def _log_row(client, message):
    response = client.get(reverse("webhooks:messages"))
    (row,) = [m for m in response.context["log"] if m.pk == message.pk]
    return row.next_step, _text(response)


def test_a_message_past_its_time_shows_due_now(developer_client, destination):
    message = message_to(destination, status=MessageStatus.PENDING)
    Message.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=3)
    )

    step, page = _log_row(developer_client, message)

    assert step["code"] == "due"
    assert "Due now" in page


def test_a_message_to_a_paused_destination_says_it_waits_until_when(
    developer_client, destination
):
    paused = timezone.now().replace(microsecond=0) + timedelta(minutes=7)
    Destination.objects.filter(pk=destination.pk).update(paused_until=paused)
    message = message_to(destination, status=MessageStatus.PENDING)
    Message.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=3)
    )

    step, page = _log_row(developer_client, message)

    assert step == {
        "code": "paused",
        "label": "Waiting: destination paused until",
        "when": paused,
    }
    assert f"Waiting: destination paused until {paused:%-d %b %H:%M:%S}" in page
    detail = developer_client.get(reverse("webhooks:message", args=[message.pk]))
    assert f"paused until {paused:%-d %b %Y %H:%M:%S} UTC" in _text(detail)


def test_a_retry_due_after_the_pause_shows_its_own_time(developer_client, destination):
    paused = timezone.now() + timedelta(minutes=1)
    retry = timezone.now().replace(microsecond=0) + timedelta(hours=2)
    Destination.objects.filter(pk=destination.pk).update(paused_until=paused)
    message = message_to(destination, status=MessageStatus.RETRYING)
    Message.objects.filter(pk=message.pk).update(next_attempt_at=retry)

    step, page = _log_row(developer_client, message)

    assert step["code"] == "scheduled" and step["when"] == retry
    assert f"{retry:%-d %b %H:%M:%S}" in page


def test_a_test_event_is_not_held_by_a_pause(developer_client, destination):
    Destination.objects.filter(pk=destination.pk).update(
        paused_until=timezone.now() + timedelta(minutes=5)
    )
    message = message_to(destination, status=MessageStatus.PENDING)
    Message.objects.filter(pk=message.pk).update(
        is_test=True, next_attempt_at=timezone.now()
    )

    step, _ = _log_row(developer_client, message)

    assert step["code"] == "due"


def test_a_past_pause_holds_nothing(developer_client, destination):
    Destination.objects.filter(pk=destination.pk).update(
        paused_until=timezone.now() - timedelta(minutes=5)
    )
    message = message_to(destination, status=MessageStatus.PENDING)
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())

    step, _ = _log_row(developer_client, message)

    assert step["code"] == "due"


def test_a_leased_message_shows_as_being_sent(developer_client, destination):
    message = message_to(destination, status=MessageStatus.PENDING)
    Message.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=2),
        lease_until=timezone.now() + timedelta(minutes=1),
    )

    step, page = _log_row(developer_client, message)

    assert step["code"] == "in_flight"
    assert "Being sent" in page


def test_an_open_message_of_a_disabled_destination_says_it_will_not_go(
    developer_client, destination
):
    message = message_to(destination, status=MessageStatus.PENDING)
    Destination.objects.filter(pk=destination.pk).update(enabled=False)

    step, page = _log_row(developer_client, message)

    assert step["code"] == "disabled"
    assert "Not sent: the destination is disabled" in page


def test_finished_messages_have_no_next_step(developer_client, destination):
    message = message_to(destination, status=MessageStatus.SUCCEEDED)

    step, _ = _log_row(developer_client, message)

    assert step == {"code": "none", "label": "—", "when": None}


# 5. The destination filter tells destinations apart


def test_the_destination_filter_shows_urls_and_descriptions(sandbox):
    first = destination_in(sandbox, "https://hooks.example.com/a", description="Same")
    second = destination_in(sandbox, "https://hooks.example.com/b", description="Same")
    bare = destination_in(sandbox, "https://other.example.com/c")

    form = LogFilterForm({}, destinations=Destination.objects.all())

    labels = dict(form.fields["destination"].choices)
    assert labels[str(first.pk)] == "https://hooks.example.com/a (Same)"
    assert labels[str(second.pk)] == "https://hooks.example.com/b (Same)"
    assert labels[str(bare.pk)] == "https://other.example.com/c"


def test_the_log_page_lists_urls_in_its_destination_filter(
    developer_client, destination
):
    page = developer_client.get(reverse("webhooks:messages")).content.decode()

    assert f">{destination.url} (Main hook)</option>" in page


def test_an_unknown_destination_filter_is_an_error(developer_client, destination):
    response = developer_client.get(
        reverse("webhooks:messages"), {"destination": "not-a-destination"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["destination"]


# 6. Send test event: a plain POST with CSRF, no confirm


def test_send_test_event_is_a_plain_post_form(developer_client, destination):
    page = developer_client.get(_url("destination", destination.pk)).content.decode()

    action = f'action="{_url("test", destination.pk)}"'
    start = page.index(action)
    form = page[page.rindex("<form", 0, start) : page.index("</form>", start)]
    assert 'method="post"' in form
    assert "csrfmiddlewaretoken" in form
    assert "data-confirm" not in form
    assert "Send test event" in form


def test_send_test_event_needs_the_csrf_token(developer, destination):
    from django.test import Client

    from tests.conftest import signed_in_client

    strict = signed_in_client(developer)
    strict.handler.enforce_csrf_checks = True
    assert isinstance(strict, Client)

    response = strict.post(_url("test", destination.pk))

    assert response.status_code == 403
    assert not destination.messages.exists()


def test_send_test_event_by_get_is_refused(developer_client, destination):
    response = developer_client.get(_url("test", destination.pk))

    assert response.status_code == 405
    assert not destination.messages.exists()


# 7. The delete log names the destination


def test_deleting_logs_the_destinations_id(destination, caplog):
    pk = destination.pk
    with caplog.at_level(logging.INFO, logger="webhooks.services"):
        services.destination_delete(destination)

    assert f"Webhook destination {pk} deleted" in caplog.text
    assert "None deleted" not in caplog.text


def test_disabling_with_one_waiting_says_so_in_the_singular(
    developer_client, destination
):
    message_to(destination, status=MessageStatus.PENDING)

    response = developer_client.post(_url("disable", destination.pk), follow=True)

    assert "1 message that was waiting to be sent now shows as failed" in (
        response.content.decode()
    )
