"""Webhook signatures: Rutter's header and Standard Webhooks' headers.

Rutter's ``X-Rutter-Signature`` is keyed with the environment's API client
secret, so receivers written for Rutter verify unchanged. The Standard
Webhooks headers are keyed with the destination's own ``whsec_`` secret and
carry both signatures while a rotated-out secret is still in its overlap.
"""

import base64
import hashlib
import hmac
import secrets

from django.utils import timezone

from rutterdash import crypto

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret():
    key = base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
    return f"{SECRET_PREFIX}{key}"


def encrypt(secret):
    return crypto.encrypt(secret)


def decrypt(secret_encrypted):
    return crypto.decrypt(secret_encrypted)


def rutter_signature(body, client_secret):
    digest = hmac.new(client_secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def standard_signature(secret, message_id, timestamp, body):
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signing_secrets(destination, now=None):
    """The destination's current secret, then the previous one while it overlaps."""
    now = now or timezone.now()
    current = [decrypt(destination.secret_encrypted)]
    expires = destination.previous_secret_expires_at
    if destination.previous_secret_encrypted and expires and expires > now:
        current.append(decrypt(destination.previous_secret_encrypted))
    return current


def headers(*, message_id, body, secrets, client_secret, now=None):
    """Signature headers for one attempt; the timestamp is the attempt's own.

    `secrets` are the destination's (signing_secrets), each giving one
    Standard Webhooks signature.
    """
    now = now or timezone.now()
    timestamp = str(int(now.timestamp()))
    signatures = [
        standard_signature(secret, message_id, timestamp, body) for secret in secrets
    ]
    signed = {
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": " ".join(signatures),
    }
    if client_secret:
        signed["X-Rutter-Signature"] = rutter_signature(body, client_secret)
    return signed
