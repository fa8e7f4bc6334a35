"""Receivers verify our requests: Rutter's header with plain hmac, the
Standard Webhooks headers with the standardwebhooks package."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from tests.factories import ConnectionFactory
from tests.webhook_receiver import Answer
from tests.webhooks_delivery_support import client_secret, deliver, make_destination
from webhooks import events, outbox, signing
from webhooks.models import Destination, Event, Message


def rotate(destination, overlap):
    old = destination.secret
    new = signing.new_secret()
    Destination.objects.filter(pk=destination.pk).update(
        secret_encrypted=signing.encrypt(new),
        previous_secret_encrypted=signing.encrypt(old),
        previous_secret_expires_at=timezone.now() + overlap,
    )
    return old, new


def send_one(scope):
    connection = ConnectionFactory(organisation=scope.organisation)
    outbox.record_for_connection(connection, events.initial_update(connection))
    deliver()
    return connection


def test_a_new_secret_is_32_random_bytes_with_its_prefix():
    first, second = signing.new_secret(), signing.new_secret()

    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_rutters_signature_verifies_with_the_client_secret(sandbox, receiver):
    secret = client_secret(sandbox)
    make_destination(sandbox, receiver.url)

    send_one(sandbox)

    request = receiver.requests[0]
    digest = hmac.new(secret.encode(), request.body, hashlib.sha256).digest()
    expected = "sha256=" + base64.b64encode(digest).decode()
    assert hmac.compare_digest(request.headers["x-rutter-signature"], expected)


def test_standard_webhooks_headers_verify_with_the_destination_secret(
    sandbox, receiver
):
    client_secret(sandbox)
    destination = make_destination(sandbox, receiver.url)

    connection = send_one(sandbox)

    request = receiver.requests[0]
    payload = Webhook(destination.secret).verify(request.body, request.headers)
    assert payload == {
        "type": "CONNECTION",
        "code": "INITIAL_UPDATE",
        "connection_id": str(connection.id),
        "access_token": connection.access_token(),
    }
    assert request.headers["webhook-id"] == Event.objects.get().id


def test_another_secret_does_not_verify(sandbox, receiver):
    client_secret(sandbox)
    make_destination(sandbox, receiver.url)

    send_one(sandbox)

    request = receiver.requests[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(request.body, request.headers)


def test_during_the_rotation_overlap_both_secrets_verify(sandbox, receiver):
    client_secret(sandbox)
    destination = make_destination(sandbox, receiver.url)
    old, new = rotate(destination, overlap=timedelta(hours=24))

    send_one(sandbox)

    request = receiver.requests[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(request.body, request.headers)
    assert Webhook(new).verify(request.body, request.headers)


def test_after_the_overlap_only_the_new_secret_verifies(sandbox, receiver):
    client_secret(sandbox)
    destination = make_destination(sandbox, receiver.url)
    old, new = rotate(destination, overlap=timedelta(seconds=-1))

    send_one(sandbox)

    request = receiver.requests[0]
    assert Webhook(new).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, request.headers)


def test_every_attempt_is_signed_afresh_with_its_own_timestamp(
    sandbox, receiver, django_capture_on_commit_callbacks
):
    client_secret(sandbox)
    destination = make_destination(sandbox, receiver.url)
    receiver.will(Answer(500))
    send_one(sandbox)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Message.objects.update(next_attempt_at=timezone.now())
    first = Message.objects.get().attempts.get()
    first.started_at = an_hour_ago
    first.save()

    deliver()

    attempts = list(Message.objects.get().attempts.all())
    stamps = [a.request_headers["webhook-timestamp"] for a in attempts]
    assert stamps[1] == str(int(attempts[1].started_at.timestamp()))
    retried = receiver.requests[1]
    assert Webhook(destination.secret).verify(retried.body, retried.headers)


def test_the_stored_payload_keeps_no_access_token(sandbox):
    connection = ConnectionFactory(organisation=sandbox.organisation)

    event = outbox.record_for_connection(connection, events.initial_update(connection))

    event.refresh_from_db()
    assert "access_token" not in event.payload
    assert connection.access_token() not in event.access_token_encrypted
    sent = json.loads(events.body(event))
    assert sent["access_token"] == connection.access_token()
    assert list(sent)[:4] == ["type", "code", "connection_id", "access_token"]
