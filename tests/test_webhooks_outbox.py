"""Events are written with the change that causes them, for the right destinations."""

import json
from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction

from connections import services as connection_services
from connections import writes
from connections.models import Invoice, Vendor
from connections.sync import sync_books
from rutterdash.environments import Environment
from rutterdash.scoping import Scope
from tests.factories import ConnectionFactory, OrganisationFactory
from tests.webhooks_delivery_support import make_destination, record_event
from tests.write_support import add_chart, add_invoice, add_parties
from webhooks import events, outbox
from webhooks.models import Event, Message, MessageStatus

URL = "https://hooks.example.com/rutter"


def codes():
    return sorted(Event.objects.values_list("type", flat=True))


def test_an_event_gets_one_message_per_matching_destination(sandbox, production):
    everything = make_destination(sandbox, URL)
    updates = make_destination(sandbox, URL, event_types=["INITIAL_UPDATE"])
    make_destination(sandbox, URL, event_types=["INVOICE_CREATED"])
    make_destination(sandbox, URL, enabled=False)
    make_destination(production, URL)
    make_destination(Scope(OrganisationFactory(), Environment.SANDBOX), URL)

    event = record_event(sandbox, "INITIAL_UPDATE")

    assert event.id.startswith("evt_") and len(event.id) == 28
    assert (event.organisation, event.environment) == (
        sandbox.organisation,
        sandbox.environment,
    )
    messages = Message.objects.filter(event=event)
    assert {m.destination_id for m in messages} == {everything.id, updates.id}
    assert {m.status for m in messages} == {MessageStatus.PENDING}


def test_delivery_is_queued_once_the_transaction_commits(
    sandbox, task_queue, django_capture_on_commit_callbacks
):
    make_destination(sandbox, URL)

    with django_capture_on_commit_callbacks() as callbacks:
        record_event(sandbox)
        assert task_queue.results == []
    for callback in callbacks:
        callback()

    assert [r.task.name for r in task_queue.results] == ["deliver_due"]


def test_nothing_is_queued_without_a_destination(
    sandbox, task_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        record_event(sandbox)

    assert Event.objects.count() == 1
    assert Message.objects.count() == 0
    assert task_queue.results == []


def test_a_rolled_back_change_leaves_no_event(
    sandbox, task_queue, django_capture_on_commit_callbacks
):
    make_destination(sandbox, URL)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            record_event(sandbox)
            raise RuntimeError("the change failed")

    assert Event.objects.count() == Message.objects.count() == 0
    assert callbacks == [] and task_queue.results == []


def test_a_test_event_goes_to_its_destination_only(sandbox):
    chosen = make_destination(sandbox, URL, event_types=["INITIAL_UPDATE"])
    make_destination(sandbox, URL)

    message = outbox.record_test(chosen)

    assert message.is_test and message.destination == chosen
    assert Message.objects.count() == 1
    assert message.event.type == events.TEST_EVENT
    assert message.event.payload["code"] == "TEST_EVENT"


def test_the_event_types_are_rutters_codes():
    assert "INITIAL_UPDATE" in events.EVENT_TYPES
    assert "CONNECTION_NEEDS_UPDATE" in events.EVENT_TYPES
    assert "INVOICE_PAYMENT_CREATED" in events.EVENT_TYPES
    assert "JOURNAL_ENTRY_DELETED" in events.EVENT_TYPES
    assert len(set(events.EVENT_TYPES)) == len(events.EVENT_TYPES) == 5 + 9 * 3


# What the product emits.


def new_connection(scope, **fields):
    return ConnectionFactory(
        organisation=scope.organisation, environment=scope.environment, **fields
    )


def test_the_first_sync_raises_initial_and_historical_updates(sandbox, settings):
    make_destination(sandbox, URL)
    connection = new_connection(sandbox, is_ready=False, sync_status="queued")

    sync_books(connection, months=2, scale=0.1, today=date(2024, 6, 15))

    assert codes() == ["HISTORICAL_UPDATE", "INITIAL_UPDATE"]
    initial = Event.objects.get(type="INITIAL_UPDATE")
    sent = events.body(initial)
    assert sent.startswith(b'{"type":"CONNECTION","code":"INITIAL_UPDATE"')
    assert initial.connection_id == connection.id
    history = Event.objects.get(type="HISTORICAL_UPDATE").payload
    ranges = history["entities_included_to_time_range"]
    assert {"platformEntity": "INVOICES", "xMonthsAgo": settings.SANDBOX_MONTHS} in (
        ranges
    )


def test_a_later_sync_sums_up_what_changed_per_entity(sandbox):
    make_destination(sandbox, URL)
    connection = new_connection(sandbox, is_ready=False)
    sync_books(connection, months=2, scale=0.1, today=date(2024, 6, 15))
    connection.refresh_from_db()
    Event.objects.all().delete()
    changed = Invoice.objects.filter(connection=connection).first()
    Invoice.objects.filter(pk=changed.pk).update(platform_updated_at=None)
    stray = Vendor.objects.create(connection=connection, platform_id="gone", name="X")

    sync_books(connection, months=2, scale=0.1, today=date(2024, 6, 15))

    assert codes() == ["INVOICE_UPDATED", "VENDOR_DELETED"]
    updated = Event.objects.get(type="INVOICE_UPDATED").payload
    assert updated["type"] == "INVOICE" and updated["source"] == "SYNC"
    assert (updated["count"], updated["ids"]) == (1, [str(changed.id)])
    deleted = Event.objects.get(type="VENDOR_DELETED").payload
    assert deleted["ids"] == [str(stray.id)]


def test_a_later_sync_nobody_listens_to_raises_nothing(sandbox):
    make_destination(sandbox, URL, event_types=["CONNECTION_DISABLED"])
    connection = new_connection(sandbox, is_ready=False)
    sync_books(connection, months=2, scale=0.1, today=date(2024, 6, 15))
    connection.refresh_from_db()
    Vendor.objects.create(connection=connection, platform_id="gone", name="X")

    sync_books(connection, months=2, scale=0.1, today=date(2024, 6, 15))

    assert codes() == ["HISTORICAL_UPDATE", "INITIAL_UPDATE"]


def test_disabling_a_connection_raises_connection_disabled(sandbox):
    make_destination(sandbox, URL)
    connection = new_connection(sandbox)

    connection_services.connection_disable(connection, "Card declined")

    event = Event.objects.get()
    assert event.type == "CONNECTION_DISABLED"
    assert event.payload["reason"] == "Card declined"
    assert Message.objects.filter(event=event).count() == 1


def test_a_connection_needing_reauth_raises_needs_update_with_its_url(sandbox):
    connection = new_connection(sandbox)

    connection_services.connection_needs_reauth(connection, "Token revoked")

    event = Event.objects.get()
    assert event.type == "CONNECTION_NEEDS_UPDATE"
    assert event.payload["update_url"] == connection.link_url


def test_writes_through_the_api_raise_created_events(sandbox):
    connection = new_connection(sandbox)
    chart = add_chart(connection)
    customer, _ = add_parties(connection)
    Event.objects.all().delete()

    invoice = add_invoice(connection, chart, customer, Decimal("120.00"))

    event = Event.objects.get()
    assert event.type == "INVOICE_CREATED"
    assert event.payload["invoice"] == {
        "id": str(invoice.id),
        "platform_id": invoice.platform_id,
    }
    assert json_body(event)["access_token"] == connection.access_token()


def test_a_payment_raises_its_own_event_and_the_invoice_update(sandbox):
    connection = new_connection(sandbox)
    chart = add_chart(connection)
    customer, _ = add_parties(connection)
    invoice = add_invoice(connection, chart, customer, Decimal("120.00"))
    Event.objects.all().delete()

    writes.invoice_payment_create(
        connection,
        {
            "account_id": str(chart["1000"].id),
            "customer_id": str(customer.id),
            "txn_date": date(2024, 3, 20),
            "currency_code": "USD",
            "total_amount": Decimal("120.00"),
            "linked_invoices": [{"id": str(invoice.id), "amount": Decimal("120.00")}],
        },
    )

    assert codes() == ["INVOICE_PAYMENT_CREATED", "INVOICE_UPDATED"]


def test_a_refused_write_raises_nothing(sandbox):
    connection = new_connection(sandbox)

    with pytest.raises(writes.WriteError):
        writes.customer_create(connection, {"customer_name": "  "})

    assert Event.objects.count() == 0


def json_body(event):
    return json.loads(events.body(event))


def test_one_transaction_queues_one_delivery_task(
    sandbox, task_queue, django_capture_on_commit_callbacks
):
    make_destination(sandbox, URL)

    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            for _ in range(5):
                record_event(sandbox)

    assert Message.objects.count() == 5
    assert [r.task.name for r in task_queue.results] == ["deliver_due"]


def test_an_event_after_a_rolled_back_savepoint_still_queues_delivery(
    sandbox, task_queue, django_capture_on_commit_callbacks
):
    make_destination(sandbox, URL)

    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            with pytest.raises(RuntimeError), transaction.atomic():
                record_event(sandbox)
                raise RuntimeError("undone")
            record_event(sandbox)

    assert Message.objects.count() == 1
    assert [r.task.name for r in task_queue.results] == ["deliver_due"]
