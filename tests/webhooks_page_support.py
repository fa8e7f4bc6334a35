"""Rows and settings the Webhooks page and configs API tests share."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from rutterdash.scoping import Scope
from webhooks import netguard, services
from webhooks.models import Attempt, Event, Message, MessageStatus

PUBLIC_ADDRESS = "93.184.215.14"
# Names the fake resolver answers, and what with; anything else fails.
RESOLVES = {
    "hooks.example.com": PUBLIC_ADDRESS,
    "other.example.com": PUBLIC_ADDRESS,
    "internal.example.com": "10.0.0.8",
    "sneaky.example.com": "127.0.0.1",
    "localhost": "127.0.0.1",
}
_event_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def safe_addresses(settings, monkeypatch):
    """Production-like address rules, with a resolver that needs no network."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    settings.WEBHOOK_ALLOW_HTTP = False

    def lookup(host, port):
        if host not in RESOLVES:
            raise OSError("no such host")
        return [RESOLVES[host]]

    monkeypatch.setattr(netguard, "lookup", lookup)


def destination_in(scope, url="https://hooks.example.com/rutter", **fields):
    return services.destination_create(scope, url, **fields)


def event_in(scope, event_type="INITIAL_UPDATE", connection_id=None, **payload):
    body = {"type": "CONNECTION", "code": event_type, **payload}
    return Event.objects.create(
        id=f"evt_test{next(_event_numbers):08d}",
        organisation=scope.organisation,
        environment=scope.environment,
        type=event_type,
        connection_id=connection_id,
        payload=body,
    )


def message_to(destination, event=None, status=MessageStatus.SUCCEEDED, ago=None):
    """A message created ``ago`` (a timedelta) before now."""
    scope = Scope(destination.organisation, destination.environment)
    event = event or event_in(scope)
    message = Message.objects.create(
        event=event, destination=destination, status=status
    )
    if ago is not None:
        created = timezone.now() - ago
        Message.objects.filter(pk=message.pk).update(created=created)
        message.created = created
    return message


def attempt_on(message, status_code=200, at=None, number=None, **fields):
    number = number or message.attempts.count() + 1
    return Attempt.objects.create(
        message=message,
        number=number,
        started_at=at or timezone.now(),
        status_code=status_code,
        **fields,
    )


def hours_ago(hours, minutes=0):
    return timezone.now() - timedelta(hours=hours, minutes=minutes)
