"""Webhook events for a connection's books, written with the change itself.

Records written through the API raise one event each. A sync raises, per
entity, at most one event per action ("INVOICE_CREATED" with the ids and a
count): a sync can touch hundreds of thousands of rows, and a receiver
wants to know what to re-read, not to be sent a request per row. The first
sync raises INITIAL_UPDATE and HISTORICAL_UPDATE instead, as every row is
new then.
"""

from django.conf import settings

from connections.models import (
    Account,
    Bill,
    BillPayment,
    Customer,
    Expense,
    Invoice,
    InvoicePayment,
    JournalEntry,
    Vendor,
)
from webhooks import events, outbox
from webhooks.models import Destination

ENTITY_MODELS = {
    "accounts": Account,
    "customers": Customer,
    "vendors": Vendor,
    "invoices": Invoice,
    "bills": Bill,
    "invoice_payments": InvoicePayment,
    "bill_payments": BillPayment,
    "expenses": Expense,
    "journal_entries": JournalEntry,
}
MODEL_ENTITIES = {model: entity for entity, model in ENTITY_MODELS.items()}


def written(connection, record, action="CREATED"):
    """Record the event for one object written through the API."""
    entity = MODEL_ENTITIES[type(record)]
    payload = events.entity_payload(connection, entity, action, record)
    outbox.record_for_connection(connection, payload)


class SyncChanges:
    """What a sync changed, from a look at the books before and after it."""

    def __init__(self, connection):
        self.connection = connection
        self.first = not connection.is_ready
        wanted = not self.first and _listened_to(connection)
        self.before = _versions(connection) if wanted else {}

    def record(self):
        """Record the sync's events; call in the sync's transaction, after it."""
        if self.first:
            self._record_first_sync()
        elif self.before:
            self._record_changes(_versions(self.connection))

    def _record_first_sync(self):
        connection = self.connection
        outbox.record_for_connection(connection, events.initial_update(connection))
        history = events.historical_update(
            connection, list(ENTITY_MODELS), settings.SANDBOX_MONTHS
        )
        outbox.record_for_connection(connection, history)

    def _record_changes(self, after):
        for entity in ENTITY_MODELS:
            changes = _changes(self.before[entity], after[entity])
            for action, ids in changes.items():
                if ids:
                    payload = events.entity_summary(
                        self.connection, entity, action, ids
                    )
                    outbox.record_for_connection(self.connection, payload)


def _changes(old, new):
    both = old.keys() & new.keys()
    return {
        "CREATED": new.keys() - old.keys(),
        "UPDATED": {key for key in both if old[key] != new[key]},
        "DELETED": old.keys() - new.keys(),
    }


def _versions(connection):
    """Each entity's rows as {id: platform_updated_at}."""
    return {
        entity: dict(
            model.objects.filter(connection=connection).values_list(
                "id", "platform_updated_at"
            )
        )
        for entity, model in ENTITY_MODELS.items()
    }


def _listened_to(connection):
    """Whether any enabled destination takes entity events; else skip the diff."""
    destinations = Destination.objects.filter(
        organisation_id=connection.organisation_id,
        environment=connection.environment,
        enabled=True,
    ).values_list("event_types", flat=True)
    entity_codes = set(events.ENTITY_CODES)
    return any(not types or entity_codes & set(types) for types in destinations)
