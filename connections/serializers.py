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


def connection_status(connection, entity_syncs):
    """GetConnectionStatusResponse, with one ``total`` entry per entity."""
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
            "historical_sync_status": _history(connection, entity_syncs),
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


def _history(connection, entity_syncs):
    by_entity = {sync.entity: sync for sync in entity_syncs}
    totals = {name: _entity_total(by_entity.get(name)) for name in ENTITIES}
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


def _entity_total(sync):
    done = sync is not None and sync.status == SyncStatus.SUCCEEDED
    return {
        "oldest_entity_date": None,
        "newest_entity_date": None,
        "synced_count": sync.count if sync else 0,
        "ready": done,
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
