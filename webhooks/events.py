"""Webhook event types and the payloads Rutter documents for them.

The event type a destination filters on is the payload's ``code``, the way
Rutter's ``allow_list.allowedTypes`` names them ("INITIAL_UPDATE",
"INVOICE_CREATED"). Every payload carries ``type``, ``code``,
``connection_id`` and ``access_token``; each code adds its own fields.
"""

import json

from rutterdash import crypto

CONNECTION_CODES = (
    "INITIAL_UPDATE",
    "HISTORICAL_UPDATE",
    "CONNECTION_UPDATED",
    "CONNECTION_NEEDS_UPDATE",
    "CONNECTION_DISABLED",
)

# A connection's entity (as the sync names it) and the object its events name.
OBJECTS = {
    "accounts": "ACCOUNT",
    "customers": "CUSTOMER",
    "vendors": "VENDOR",
    "invoices": "INVOICE",
    "bills": "BILL",
    "invoice_payments": "INVOICE_PAYMENT",
    "bill_payments": "BILL_PAYMENT",
    "expenses": "EXPENSE",
    "journal_entries": "JOURNAL_ENTRY",
}
ACTIONS = ("CREATED", "UPDATED", "DELETED")

ENTITY_CODES = tuple(
    f"{name}_{action}" for name in OBJECTS.values() for action in ACTIONS
)
EVENT_TYPES = CONNECTION_CODES + ENTITY_CODES

# Sent only by "Send test event", whatever the destination's filter.
TEST_EVENT = "TEST_EVENT"

# A sync summary lists at most this many ids; `count` always says how many.
SUMMARY_IDS = 100

# Keys of every payload, in the order they are sent.
LEADING_KEYS = ("type", "code", "connection_id", "access_token")


def connection_payload(code, connection, **extra):
    return {
        "type": "CONNECTION",
        "code": code,
        "connection_id": str(connection.id),
        "access_token": connection.access_token(),
        **extra,
    }


def initial_update(connection):
    return connection_payload("INITIAL_UPDATE", connection)


def historical_update(connection, entities, months):
    ranges = [
        {"platformEntity": entity.upper(), "xMonthsAgo": months}
        for entity in entities
    ]
    return connection_payload(
        "HISTORICAL_UPDATE", connection, entities_included_to_time_range=ranges
    )


def connection_updated(connection):
    return connection_payload(
        "CONNECTION_UPDATED", connection, store_unique_id=connection.store_domain
    )


def connection_needs_update(connection):
    return connection_payload(
        "CONNECTION_NEEDS_UPDATE", connection, update_url=connection.link_url
    )


def connection_disabled(connection, reason):
    return connection_payload("CONNECTION_DISABLED", connection, reason=reason)


def entity_payload(connection, entity, action, record):
    """One accounting object created, updated or deleted through the API."""
    name = OBJECTS[entity]
    body = {"id": str(record.id), "platform_id": record.platform_id}
    return {
        "type": name,
        "code": f"{name}_{action}",
        "connection_id": str(connection.id),
        "access_token": connection.access_token(),
        name.lower(): body,
    }


def entity_summary(connection, entity, action, ids):
    """Many objects of one entity that a sync changed, as one event."""
    name = OBJECTS[entity]
    ids = sorted(str(each) for each in ids)
    return {
        "type": name,
        "code": f"{name}_{action}",
        "connection_id": str(connection.id),
        "access_token": connection.access_token(),
        "source": "SYNC",
        "count": len(ids),
        "ids": ids[:SUMMARY_IDS],
    }


def sample_payload(destination):
    return {
        "type": "TEST",
        "code": TEST_EVENT,
        "connection_id": None,
        "message": "A test event from Rutterdash. No action is needed.",
        "destination_id": str(destination.id),
    }


def split_secret(payload):
    """The payload to store, and the encrypted access token it carried."""
    stored = dict(payload)
    token = stored.pop("access_token", None)
    return stored, crypto.encrypt(token) if token else ""


def body(event):
    """The exact bytes sent for an event: its payload, access token restored."""
    payload = dict(event.payload)
    if event.access_token_encrypted:
        payload["access_token"] = crypto.decrypt(event.access_token_encrypted)
    ordered = {key: payload.pop(key) for key in LEADING_KEYS if key in payload}
    ordered.update(payload)
    return json.dumps(ordered, separators=(",", ":")).encode()
