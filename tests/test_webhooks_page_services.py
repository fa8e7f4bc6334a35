"""The webhook services behind the page and the configs API."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.models import Role
from rutterdash import crypto
from tests.factories import MembershipFactory
from tests.webhooks_page_support import (  # noqa: F401 (autouse fixture)
    attempt_on,
    destination_in,
    message_to,
    safe_addresses,
)
from webhooks import services
from webhooks.models import Destination

NOW = datetime(2026, 3, 10, 14, 25, tzinfo=UTC)


@pytest.fixture
def destination(sandbox):
    return destination_in(sandbox)


def _at(hours_before_now, minute=0):
    this_hour = NOW.replace(minute=0)
    return this_hour - timedelta(hours=hours_before_now) + timedelta(minutes=minute)


# The 24-hour strip


def test_the_strip_has_24_hourly_buckets_ending_with_this_hour(destination):
    strip = services.success_rate_strip(destination, now=NOW)

    hours = [bucket["hour"] for bucket in strip["buckets"]]
    assert len(hours) == 24
    assert hours[-1] == NOW.replace(minute=0)
    assert hours[0] == NOW.replace(minute=0) - timedelta(hours=23)


def test_the_strip_counts_attempts_sent_and_succeeded_per_hour(destination):
    message = message_to(destination)
    attempt_on(message, 500, at=_at(0, minute=5))
    attempt_on(message, 200, at=_at(0, minute=20))
    attempt_on(message, 503, at=_at(3, minute=59))
    attempt_on(message, 204, at=_at(23))
    attempt_on(message, 200, at=_at(24, minute=59))  # 25 hours ago: left out

    strip = services.success_rate_strip(destination, now=NOW)

    by_hour = {b["hour"]: (b["sent"], b["succeeded"]) for b in strip["buckets"]}
    assert by_hour[_at(0)] == (2, 1)
    assert by_hour[_at(3)] == (1, 0)
    assert by_hour[_at(23)] == (1, 1)
    assert sum(sent for sent, _ in by_hour.values()) == 4
    assert (strip["sent"], strip["succeeded"], strip["rate"]) == (4, 2, 50)


def test_a_bucket_knows_its_rate_and_an_idle_hour_has_none(destination):
    message = message_to(destination)
    for code in (200, 200, 500):
        attempt_on(message, code, at=_at(1, minute=10))

    buckets = services.success_rate_strip(destination, now=NOW)["buckets"]

    assert buckets[-2]["rate"] == 66
    assert buckets[-1]["rate"] is None


def test_one_failure_in_many_never_rounds_up_to_100(destination):
    message = message_to(destination)
    for _ in range(299):
        attempt_on(message, 200, at=_at(2))
    attempt_on(message, 500, at=_at(2))

    assert services.success_rate_strip(destination, now=NOW)["rate"] == 99


def test_attempts_still_in_flight_are_not_counted(destination):
    message = message_to(destination)
    attempt_on(message, None, at=_at(0))
    attempt_on(message, None, at=_at(0), error="Connection refused")

    strip = services.success_rate_strip(destination, now=NOW)

    assert strip["sent"] == 1
    assert strip["succeeded"] == 0


def test_each_destination_counts_only_its_own_attempts(destination, sandbox):
    other = destination_in(sandbox, "https://other.example.com/hook")
    attempt_on(message_to(destination), 200, at=_at(1))
    attempt_on(message_to(other), 500, at=_at(1))
    attempt_on(message_to(other), 500, at=_at(2))

    strips = services.success_rate_strips([destination, other], now=NOW)

    assert (strips[destination.pk]["sent"], strips[destination.pk]["rate"]) == (1, 100)
    assert (strips[other.pk]["sent"], strips[other.pk]["rate"]) == (2, 0)


def test_all_strips_come_from_one_query(
    destination, sandbox, django_assert_num_queries
):
    others = [
        destination_in(sandbox, f"https://hooks.example.com/{n}") for n in range(5)
    ]

    with django_assert_num_queries(1):
        services.success_rate_strips([destination, *others], now=NOW)


# Secrets


def test_rotation_keeps_the_old_secret_for_the_default_overlap(destination, settings):
    settings.WEBHOOK_SIGNATURE_OVERLAP = 3 * 3600
    old = crypto.decrypt(destination.secret_encrypted)

    services.rotate_secret(destination)

    destination.refresh_from_db()
    left = destination.previous_secret_expires_at - timezone.now()
    assert crypto.decrypt(destination.previous_secret_encrypted) == old
    assert timedelta(hours=2, minutes=59) < left <= timedelta(hours=3)
    assert services.previous_secret_active(destination)


def test_an_expired_overlap_is_not_active(destination):
    services.rotate_secret(destination, timedelta(hours=1))
    later = timezone.now() + timedelta(hours=2)

    assert not services.previous_secret_active(destination, now=later)


def test_rotation_leaves_the_workers_health_fields_alone(destination):
    Destination.objects.filter(pk=destination.pk).update(last_status_code=503)

    services.rotate_secret(destination)

    destination.refresh_from_db()
    assert destination.last_status_code == 503


def test_only_admins_may_see_a_secret(destination, organisation):
    admin = MembershipFactory(organisation=organisation, role=Role.ADMIN)
    developer = MembershipFactory(organisation=organisation, role=Role.DEVELOPER)

    secret = services.reveal_secret(destination, admin)

    assert secret == crypto.decrypt(destination.secret_encrypted)
    with pytest.raises(PermissionDenied):
        services.reveal_secret(destination, developer)


# Status


def test_status_reads_disabled_failing_or_enabled(destination):
    assert services.destination_status(destination)["code"] == "healthy"

    destination.failing_since = timezone.now()
    assert services.destination_status(destination)["code"] == "failing"

    services.destination_disable(destination, "Gone quiet")
    status = services.destination_status(destination)
    assert (status["code"], status["detail"]) == ("disabled", "Gone quiet")


def test_disabling_records_when(destination):
    services.destination_disable(destination)

    destination.refresh_from_db()
    assert destination.disabled_at is not None
    assert destination.disabled_reason == "Disabled by a team member."


def test_enabling_lifts_a_pause(destination):
    destination.paused_until = timezone.now() + timedelta(hours=1)
    services.destination_disable(destination)

    services.destination_enable(destination)

    destination.refresh_from_db()
    assert destination.paused_until is None
    assert destination.disabled_at is None


def test_an_edit_that_changes_nothing_checks_no_address(destination, monkeypatch):
    def refuse(url):
        raise AssertionError("the unchanged URL was looked up again")

    monkeypatch.setattr(services, "check_url", refuse)

    services.destination_update(destination, url=destination.url, description="x")

    destination.refresh_from_db()
    assert destination.description == "x"
