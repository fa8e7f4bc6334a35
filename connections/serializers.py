"""Connections and their books in the JSON shapes of Rutter's API.

Each function returns plain data matching one schema of Rutter's OpenAPI
document (2023-03-14). Money follows Rutter's per-entity choice: a decimal
string on invoices, a JSON number on account balances.
"""

from datetime import UTC

from connections.models import ENTITIES, SyncStatus

MANUALLY_DISABLED = "MANUALLY_DISABLED"


def iso_datetime(moment):
    if moment is None:
        return None
    utc = moment.astimezone(UTC)
    milliseconds = utc.microsecond // 1000
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{milliseconds:03d}Z"


def iso_date(day):
    return None if day is None else f"{day.isoformat()}T00:00:00.000Z"


def money_string(amount):
    return None if amount is None else str(amount)


def money_number(amount):
    return None if amount is None else float(amount)


def connection_ref(connection):
    """The short ``Connection`` object that heads every accounting response."""
    return {
        "id": str(connection.id),
        "orgId": str(connection.organisation.public_id),
        "platform": connection.platform,
    }


def connection_listed(connection):
    return {
        "id": str(connection.id),
        "access_token": connection.access_token(),
        "link_url": connection.link_url,
        "platform": connection.platform,
        "created_at": iso_datetime(connection.created),
        "updated_at": iso_datetime(connection.updated),
    }


def connection_created(connection, access_token):
    return {
        "connection": {
            "id": str(connection.id),
            "access_token": access_token,
            "link_url": connection.link_url,
        }
    }


def connection_detail(connection):
    """GetAccessTokenConnectionResponse: a connection found by its token."""
    return {
        "connection": {
            "id": str(connection.id),
            "store_unique_id": connection.store_domain or str(connection.id),
            "platform": connection.platform,
            "store_name": connection.store_name or None,
            "store_domain": connection.store_domain or None,
            "link_url": connection.link_url,
            "disabled": connection.disabled,
            "needs_update": connection.needs_reauth,
            "created_at": iso_datetime(connection.created),
            **_sync_times(connection),
        }
    }


def connection_status(connection, entity_syncs, progress):
    """GetConnectionStatusResponse, with one ``total`` entry per entity.

    ``progress`` is connections.sync.sync_progress: live counts while a sync
    runs, else what the last sync recorded.
    """
    completed = iso_datetime(connection.last_sync_completed_at)
    return {
        "connection": connection_ref(connection),
        "status": {
            "is_ready": connection.is_ready,
            "platform": connection.platform,
            "link_url": connection.link_url,
            "created_at": iso_datetime(connection.created),
            "last_sync_completed_at": completed,
            "needs_update_status": {"needs_update": connection.needs_reauth},
            "disabled_status": _disabled_status(connection),
            "historical_sync_status": _history(
                connection, entity_syncs, progress["counts"]
            ),
        },
    }


def _disabled_status(connection):
    # Rutter's reasons are an enum; ours is free text for the dashboard, and
    # the only way a connection is disabled today is by hand.
    reason = MANUALLY_DISABLED if connection.disabled else None
    return {"is_disabled": connection.disabled, "disabled_reason": reason}


def _sync_times(connection):
    return {
        "last_sync_started_at": iso_datetime(connection.last_sync_started_at),
        "last_sync_completed_at": iso_datetime(connection.last_sync_completed_at),
    }


def _history(connection, entity_syncs, counts):
    done = {s.entity for s in entity_syncs if s.status == SyncStatus.SUCCEEDED}
    totals = {
        name: _entity_total(counts.get(name, 0), name in done) for name in ENTITIES
    }
    return {
        "historical_sync_completed": connection.is_ready,
        "total": totals,
        "num_batches_completed": None,
        "synced_balance_sheets_count": None,
        "synced_cash_flows_count": None,
        "synced_income_statements_count": None,
        "synced_orders_count": None,
        "synced_transactions_count": None,
        "batches": [],
    }


def _entity_total(count, ready):
    return {
        "oldest_entity_date": None,
        "newest_entity_date": None,
        "synced_count": count,
        "ready": ready,
    }


def account(row, balance):
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "account_type": row.account_type,
        "category": row.category,
        "status": row.status,
        "balance": money_number(balance),
        "currency_code": row.currency_code or None,
        "name": row.name,
        "nominal_code": row.nominal_code or None,
        "subsidiaries": [],
        "created_at": iso_datetime(row.platform_created_at),
        "updated_at": iso_datetime(_updated_at(row)),
    }


def _updated_at(row):
    # Rutter requires an account's updated_at; a platform that never said
    # falls back to the creation time, then to when we synced the connection.
    return (
        row.platform_updated_at
        or row.platform_created_at
        or row.connection.last_sync_completed_at
        or row.connection.created
    )


def invoice(row):
    """An Invoice; expects ``lines`` and ``payments`` prefetched."""
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "account_id": str(row.account_id),
        "customer_id": str(row.customer_id),
        "document_number": row.document_number or None,
        "issue_date": iso_date(row.issue_date),
        "due_date": iso_date(row.due_date),
        "status": row.status,
        "currency_code": row.currency_code or None,
        "memo": row.memo or None,
        "sub_total": money_string(row.sub_total),
        "tax_amount": money_string(row.tax_amount),
        "total_discount": "0",
        "total_amount": money_string(row.total_amount),
        "amount_due": money_string(row.amount_due),
        "linked_payments": [_linked_payment(p) for p in row.payments.all()],
        "line_items": [_invoice_line(line) for line in row.lines.all()],
        "created_at": iso_datetime(row.platform_created_at),
        "updated_at": iso_datetime(row.platform_updated_at),
    }


def _linked_payment(payment):
    return {
        "id": str(payment.id),
        "date": iso_date(payment.date),
        "type": "INVOICE_PAYMENT",
        "amount": money_string(payment.total_amount),
    }


def _invoice_line(line):
    # Lines have no platform id of their own; their database id stands in.
    line_id = str(line.pk)
    return {
        "id": line_id,
        "platform_id": line_id,
        "account_id": str(line.account_id),
        "item_id": None,
        "tax_rate_id": None,
        "description": line.description or None,
        "quantity": float(line.quantity),
        "unit_amount": money_string(line.unit_amount),
        "sub_total": money_string(line.total_amount),
        "tax_amount": None,
        "discount_amount": "0",
        "discount_percentage": "0",
        "amount": money_string(line.total_amount),
    }


def company_info(row):
    return {
        "id": str(row.id),
        "name": row.name,
        "legal_name": row.legal_name or None,
        "currency_code": row.currency_code,
        "addresses": [row.address] if row.address else [],
        "created_at": iso_datetime(row.platform_created_at or row.connection.created),
        "updated_at": iso_datetime(_updated_at(row)),
    }


CUSTOMER_STATUSES = {"active": "ACTIVE", "inactive": "INACTIVE"}
VENDOR_STATUSES = {"active": "active", "inactive": "archived"}


def customer(row):
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "subsidiary_id": None,
        "status": CUSTOMER_STATUSES.get(row.status, "UNKNOWN"),
        "customer_name": row.name,
        **_contact(row),
        "updated_at": iso_datetime(_updated_at(row)),
    }


def vendor(row):
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "status": VENDOR_STATUSES.get(row.status, "unknown"),
        "vendor_name": row.name,
        "website": row.website or None,
        "subsidiaries": [],
        **_contact(row),
        "created_at": iso_datetime(row.platform_created_at),
        "updated_at": iso_datetime(row.platform_updated_at),
    }


def _contact(party):
    return {
        "contact_name": party.contact_name or None,
        "currency_code": party.currency_code or None,
        "email": party.email or None,
        "phone": party.phone or None,
        "registration_number": None,
        "tax_number": None,
        "addresses": _addresses(party),
    }


def _addresses(party):
    parts = {
        "address1": party.address_line1 or None,
        "address2": None,
        "city": party.city or None,
        "country": party.country or None,
        "postal_code": party.postal_code or None,
        "region": party.region or None,
    }
    if not any(parts.values()):
        return []
    return [{"type": "billing", **parts}]


def bill(row):
    """A Bill, money as numbers; expects ``lines`` and ``payments`` prefetched."""
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "account_id": str(row.account_id),
        "subsidiary_id": None,
        "vendor_id": str(row.vendor_id),
        "document_number": row.document_number or None,
        "issue_date": iso_date(row.issue_date),
        "due_date": iso_date(row.due_date),
        "status": row.status,
        "currency_code": row.currency_code,
        "memo": row.memo or None,
        "sub_total": money_number(row.sub_total),
        "tax_amount": money_number(row.tax_amount),
        "total_discount": 0.0,
        "total_amount": money_number(row.total_amount),
        "amount_due": money_number(row.amount_due),
        "linked_purchase_orders": [],
        "linked_credit_memos": [],
        "linked_payments": [_bill_payment_link(p) for p in row.payments.all()],
        "line_items": [_bill_line(line) for line in row.lines.all()],
        "created_at": iso_datetime(row.platform_created_at),
        "updated_at": iso_datetime(row.platform_updated_at),
    }


def _bill_payment_link(payment):
    return {
        "id": str(payment.id),
        "allocated_date": iso_date(payment.date),
        "allocated_amount": money_number(payment.total_amount),
    }


def _bill_line(line):
    return {
        "account_id": str(line.account_id),
        "description": line.description or None,
        "class_id": None,
        "customer_id": None,
        "department_id": None,
        "location_id": None,
        "tax_rate_id": None,
        "discount_amount": None,
        "discount_percentage": None,
        "sub_total": money_number(line.total_amount),
        "tax_amount": None,
        "total_amount": money_number(line.total_amount),
        "item": {
            "id": None,
            "quantity": float(line.quantity),
            "unit_amount": money_number(line.unit_amount),
        },
    }


def invoice_payment(row):
    """An InvoicePayment, money as decimal strings, against its one invoice."""
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "account_id": str(row.account_id),
        "customer_id": str(row.customer_id),
        "txn_date": iso_date(row.date),
        "currency_code": row.currency_code or None,
        "memo": row.memo or None,
        "total_amount": money_string(row.total_amount),
        "linked_invoices": [
            {
                "id": str(row.invoice_id),
                "allocated_at": iso_date(row.date),
                "amount": money_string(row.total_amount),
            }
        ],
        "updated_at": iso_datetime(row.platform_updated_at),
    }


def bill_payment(row):
    """A BillPayment, money as numbers, against its one bill."""
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "account_id": str(row.account_id),
        "vendor_id": str(row.vendor_id),
        "transaction_date": iso_date(row.date),
        "currency_code": row.currency_code,
        "memo": row.memo or None,
        "total_amount": money_number(row.total_amount),
        "linked_bills": [
            {
                "id": str(row.bill_id),
                "allocated_date": iso_date(row.date),
                "allocated_amount": money_number(row.total_amount),
            }
        ],
        "created_at": iso_datetime(row.platform_created_at),
        "updated_at": iso_datetime(row.platform_updated_at),
    }


def expense(row):
    """An Expense, money as numbers; expects ``lines`` prefetched."""
    vendor_id = str(row.vendor_id) if row.vendor_id else None
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "account_id": str(row.account_id),
        "subsidiary_id": None,
        "vendor_id": vendor_id,
        "transaction_date": iso_date(row.transaction_date),
        "currency_code": row.currency_code,
        "expense_type": row.expense_type,
        "memo": row.memo or None,
        "line_items": [_expense_line(line) for line in row.lines.all()],
        "created_at": iso_datetime(row.platform_created_at),
        "updated_at": iso_datetime(row.platform_updated_at),
    }


def _expense_line(line):
    return {
        "account_id": str(line.account_id),
        "description": line.description or None,
        "class_id": None,
        "customer_id": None,
        "department_id": None,
        "location_id": None,
        "tax_rate_id": None,
        "total_amount": money_number(line.total_amount),
    }


def journal_entry(row):
    """A JournalEntry; line amounts signed, debits positive, credits negative.

    Expects ``lines`` prefetched.
    """
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "subsidiary_id": None,
        "transaction_date": iso_date(row.transaction_date),
        "currency_code": row.currency_code or None,
        "memo": row.memo or None,
        "line_items": [_journal_line(line) for line in row.lines.all()],
        "created_at": iso_datetime(row.platform_created_at),
        "updated_at": iso_datetime(row.platform_updated_at),
    }


def _journal_line(line):
    return {
        "account_id": str(line.account_id),
        "description": line.description or None,
        "tax_rate_id": None,
        "total_amount": money_number(line.amount),
    }
