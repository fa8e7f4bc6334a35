"""API endpoints for connections and their accounting data.

Every endpoint runs with ``request.scope`` set from the API key (see
accounts.api_auth), so a connection is only ever found inside the key's
organisation and environment.
"""

from django.db.models import Sum
from ninja import Query, Router, Schema

from connections import serializers, services
from connections.models import (
    Account,
    AccountCategory,
    Connection,
    Invoice,
    JournalLine,
)
from rutterdash.api_errors import (
    connection_disabled,
    invalid_credentials,
    invalid_field,
    link_required,
    needs_update,
    product_not_ready,
)
from rutterdash.api_pagination import ConnectionQuery, ListQuery, paginate

router = Router(tags=["Connections"])
accounting = Router(tags=["Accounting"])

UNKNOWN_TOKEN = "The access_token does not match any connection."
# Balances are reported on each account's normal side: positive when a
# liability, equity or income account holds a credit balance.
CREDIT_NORMAL = {
    AccountCategory.LIABILITY,
    AccountCategory.EQUITY,
    AccountCategory.INCOME,
}


class CreateConnectionBody(Schema):
    platform: str


@router.get("", url_name="connections_list")
def connection_list(request):
    connections = request.scope.all(Connection)
    listed = [serializers.connection_listed(c) for c in connections]
    return {"connections": listed}


@router.post("/create", url_name="connections_create")
def connection_create(request, body: CreateConnectionBody):
    if not request.scope.is_sandbox:
        raise link_required()

    try:
        connection, token = services.connection_create(request.scope, body.platform)
    except services.ConnectionRequestError as error:
        raise invalid_field("platform", str(error)) from None
    return serializers.connection_created(connection, token)


@router.get("/access_token", url_name="connections_access_token")
def connection_by_token(request, query: Query[ConnectionQuery]):
    connection = connection_for(request, query.access_token)
    return serializers.connection_detail(connection)


@router.get("/status", url_name="connections_status")
def connection_status(request, query: Query[ConnectionQuery]):
    connection = connection_for(request, query.access_token)
    entity_syncs = connection.entity_syncs.all()
    return serializers.connection_status(connection, entity_syncs)


@accounting.get("/accounts", url_name="accounting_accounts")
def account_list(request, query: Query[ListQuery]):
    connection = readable_connection(request, query)
    accounts = Account.objects.filter(connection=connection)
    accounts = accounts.select_related("connection")
    page, next_cursor = paginate(accounts, query)

    balances = _balances(connection, page)
    return {
        "connection": serializers.connection_ref(connection),
        "accounts": [serializers.account(a, balances.get(a.pk)) for a in page],
        "next_cursor": next_cursor,
    }


@accounting.get("/invoices", url_name="accounting_invoices")
def invoice_list(request, query: Query[ListQuery]):
    connection = readable_connection(request, query)
    invoices = Invoice.objects.filter(connection=connection)
    invoices = invoices.prefetch_related("lines", "payments")
    page, next_cursor = paginate(invoices, query)

    return {
        "connection": serializers.connection_ref(connection),
        "invoices": [serializers.invoice(invoice) for invoice in page],
        "next_cursor": next_cursor,
    }


def connection_for(request, access_token):
    """The connection this token opens within the key's scope, or a 401.

    A token of another organisation or environment fails exactly like a
    token that never existed.
    """
    connection = services.connection_by_token(request.scope, access_token)
    if connection is None:
        raise invalid_credentials(UNKNOWN_TOKEN)
    return connection


def readable_connection(request, query):
    """A connection whose books may be read now, or the error saying why not."""
    connection = connection_for(request, query.access_token)
    if connection.disabled:
        raise connection_disabled()
    if connection.needs_reauth:
        raise needs_update()
    if not connection.is_ready and not query.force_fetch:
        raise product_not_ready()
    return connection


def _balances(connection, accounts):
    lines = JournalLine.objects.filter(connection=connection, account__in=accounts)
    totals = lines.order_by().values("account_id").annotate(total=Sum("amount"))
    by_account = {row["account_id"]: row["total"] for row in totals}
    return {
        account.pk: _on_normal_side(account, by_account.get(account.pk, 0))
        for account in accounts
    }


def _on_normal_side(account, debit_total):
    return -debit_total if account.category in CREDIT_NORMAL else debit_total
