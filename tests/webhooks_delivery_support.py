"""Destinations, events and a delivery run for webhook delivery tests."""

from accounts.services import api_key_create
from webhooks import delivery, outbox, signing
from webhooks.models import Destination


def make_destination(scope, url, **fields):
    secret = signing.new_secret()
    destination = Destination.objects.create(
        organisation=scope.organisation,
        environment=scope.environment,
        url=url,
        secret_encrypted=signing.encrypt(secret),
        **fields,
    )
    destination.secret = secret
    return destination


def client_secret(scope):
    """Give the scope an API key; returns its client secret."""
    _, secret = api_key_create(scope.organisation, scope.environment)
    return secret


def record_event(scope, code="INITIAL_UPDATE", **payload):
    body = {"type": "CONNECTION", "code": code, "connection_id": None, **payload}
    return outbox.record(scope, code, body)


def deliver():
    """Send everything due now, as a worker task would."""
    return delivery.deliver_due()
