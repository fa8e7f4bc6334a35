"""API endpoints for connections and their accounting data.

Every endpoint runs with ``request.scope`` set from the API key (see
accounts.api_auth), so a connection is only ever found inside the key's
organisation and environment.
"""

from dataclasses import dataclass
from typing import Literal

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponse
from ninja import Query, Router, Schema

from connections import ledger, page_cache, serializers, services
from connections.models import (
    Account,
    AccountCategory,
    Bill,
    BillPayment,
    CompanyInfo,
    Connection,
    Customer,
    Expense,
    Invoice,
    InvoicePayment,
    JournalEntry,
    SyncStatus,
    Vendor,
)
from connections.sync import sync_progress
from link import services as link_services
from platforms import catalog
from rutterdash.api_errors import (
    awaiting_link,
    connection_disabled,
    echoed,
    invalid_credentials,
    invalid_field,
    missing_field,
    needs_update,
    not_found,
    product_not_ready,
    resync_refused,
)
from rutterdash.api_pagination import ConnectionQuery, ListQuery, paginate

router = Router(tags=["Connections"])
accounting = Router(tags=["Accounting"])

UNKNOWN_TOKEN = "The access_token does not match any connection."
JOB_HEADER = "X-Rutter-Job-ID"
# Balances are reported on each account's normal side: positive when a
# liability, equity or income account holds a credit balance.
CREDIT_NORMAL = {
    AccountCategory.LIABILITY,
    AccountCategory.EQUITY,
    AccountCategory.INCOME,
}

# The API's connection statuses, each excluding those before it, so every
# connection has exactly one.
HEALTHY = Q(disabled=False, needs_reauth=False) & ~Q(sync_status=SyncStatus.FAILED)
API_STATUSES = {
    "disabled": Q(disabled=True),
    "needs_reauth": Q(disabled=False, needs_reauth=True),
    "unhealthy": Q(disabled=False, needs_reauth=False)
    & Q(sync_status=SyncStatus.FAILED),
    "not_ready": HEALTHY & Q(is_ready=False),
    "active": HEALTHY & Q(is_ready=True),
    "any": Q(),
}


class CreateConnectionBody(Schema):
    platform: str | None = None


class ConnectionListQuery(Schema):
    status: Literal[
        "active", "not_ready", "unhealthy", "needs_reauth", "disabled", "any"
    ] = "any"


class ExpenseListQuery(ListQuery):
    expense_type: Literal["expense", "refund"] | None = None


@router.get("", url_name="connections_list")
def connection_list(request, query: Query[ConnectionListQuery]):
    connections = request.scope.all(Connection).filter(API_STATUSES[query.status])
    listed = [serializers.connection_listed(c) for c in connections]
    return {"connections": listed}


@router.post("/create", url_name="connections_create")
def connection_create(request, body: CreateConnectionBody | None = None):
    """Sandbox connects at once; production waits for the business in Link."""
    platform = body.platform if body else None
    if request.scope.is_sandbox and not platform:
        raise missing_field("platform")
    if platform and catalog.get(platform) is None:
        raise invalid_field("platform", f"Unknown platform {echoed(platform)}.")

    if request.scope.is_sandbox:
        connection, token = services.connection_create(request.scope, platform)
    else:
        connection, token = link_services.connection_await_link(
            request.scope, platform or ""
        )
    return serializers.connection_created(connection, token)


@router.get("/access_token", url_name="connections_access_token")
def connection_by_token(request, query: Query[ConnectionQuery]):
    connection = connection_for(request, query.access_token)
    return serializers.connection_detail(connection)


@router.get("/status", url_name="connections_status")
def connection_status(request, query: Query[ConnectionQuery]):
    connection = connection_for(request, query.access_token)
    progress = sync_progress(connection)
    entity_syncs = connection.entity_syncs.all()
    return serializers.connection_status(connection, entity_syncs, progress)


@router.post("/sync", url_name="connections_sync")
def connection_sync(request, response: HttpResponse, query: Query[ConnectionQuery]):
    connection = connection_for(request, query.access_token)
    if connection.disabled:
        raise connection_disabled()
    if link_services.awaiting_link(connection):
        raise awaiting_link()

    try:
        job = services.connection_resync(connection)
    except services.ResyncRefused as refusal:
        raise resync_refused(str(refusal)) from None
    if job is not None:
        response[JOB_HEADER] = str(job.id)
    return {"success": True}


@router.delete("/{connection_id}", url_name="connections_delete")
def connection_delete(request, connection_id: str):
    connections = request.scope.all(Connection)
    connection = _one_of(connections, connection_id)

    if not services.connection_delete(connection):
        raise not_found("No connection with this id.")
    return {"success": True}


@dataclass(frozen=True)
class Books:
    """How one accounting entity is read: its model, its names, its JSON."""

    model: type
    plural: str
    singular: str
    serialize: object
    prefetch: tuple = ()
    select: tuple = ()

    def rows(self, connection):
        rows = self.model.objects.filter(connection=connection)
        return rows.select_related(*self.select).prefetch_related(*self.prefetch)


CUSTOMERS = Books(
    Customer, "customers", "customer", serializers.customer, select=("connection",)
)
VENDORS = Books(Vendor, "vendors", "vendor", serializers.vendor)
INVOICES = Books(
    Invoice, "invoices", "invoice", serializers.invoice, ("lines", "payments")
)
BILLS = Books(Bill, "bills", "bill", serializers.bill, ("lines", "payments"))
INVOICE_PAYMENTS = Books(
    InvoicePayment,
    "invoice_payments",
    "invoice_payment",
    serializers.invoice_payment,
)
BILL_PAYMENTS = Books(
    BillPayment, "bill_payments", "bill_payment", serializers.bill_payment
)
EXPENSES = Books(Expense, "expenses", "expense", serializers.expense, ("lines",))
JOURNAL_ENTRIES = Books(
    JournalEntry,
    "journal_entries",
    "journal_entry",
    serializers.journal_entry,
    ("lines",),
)


@accounting.get("/accounts", url_name="accounting_accounts")
def account_list(request, query: Query[ListQuery]):
    connection = readable_connection(request, query)
    accounts = ledger.with_balances(Account.objects.filter(connection=connection))
    page, next_cursor = paginate(accounts, query)
    for account in page:
        account.connection = connection

    return {
        "connection": serializers.connection_ref(connection),
        "accounts": [serializers.account(a, balance(a)) for a in page],
        "next_cursor": next_cursor,
    }


# Its answers depend only on the connection, its books and the query.
page_cache.keep_pages_of("accounting_accounts")


@accounting.get("/accounts/{object_id}", url_name="accounting_account")
def account_fetch(request, object_id: str, query: Query[ConnectionQuery]):
    connection = readable_connection(request, query)
    accounts = ledger.with_balances(Account.objects.filter(connection=connection))
    account = _one_of(accounts, object_id)
    account.connection = connection

    return {
        "connection": serializers.connection_ref(connection),
        "account": serializers.account(account, balance(account)),
    }


@accounting.get("/company_info", url_name="accounting_company_info")
def company_info_fetch(request, query: Query[ConnectionQuery]):
    connection = readable_connection(request, query)
    company = CompanyInfo.objects.filter(connection=connection).first()
    if company is None:
        raise not_found("This connection has no company information yet.")

    company.connection = connection
    return {
        "connection": serializers.connection_ref(connection),
        "company_info": serializers.company_info(company),
    }


@accounting.get("/customers", url_name="accounting_customers")
def customer_list(request, query: Query[ListQuery]):
    return _page(request, query, CUSTOMERS)


@accounting.get("/customers/{object_id}", url_name="accounting_customer")
def customer_fetch(request, object_id: str, query: Query[ConnectionQuery]):
    return _fetch(request, query, CUSTOMERS, object_id)


@accounting.get("/vendors", url_name="accounting_vendors")
def vendor_list(request, query: Query[ListQuery]):
    return _page(request, query, VENDORS)


@accounting.get("/vendors/{object_id}", url_name="accounting_vendor")
def vendor_fetch(request, object_id: str, query: Query[ConnectionQuery]):
    return _fetch(request, query, VENDORS, object_id)


@accounting.get("/invoices", url_name="accounting_invoices")
def invoice_list(request, query: Query[ListQuery]):
    return _page(request, query, INVOICES)


@accounting.get("/invoices/{object_id}", url_name="accounting_invoice")
def invoice_fetch(request, object_id: str, query: Query[ConnectionQuery]):
    return _fetch(request, query, INVOICES, object_id)


@accounting.get("/bills", url_name="accounting_bills")
def bill_list(request, query: Query[ListQuery]):
    return _page(request, query, BILLS)


@accounting.get("/bills/{object_id}", url_name="accounting_bill")
def bill_fetch(request, object_id: str, query: Query[ConnectionQuery]):
    return _fetch(request, query, BILLS, object_id)


@accounting.get("/invoice_payments", url_name="accounting_invoice_payments")
def invoice_payment_list(request, query: Query[ListQuery]):
    return _page(request, query, INVOICE_PAYMENTS)


@accounting.get("/invoice_payments/{object_id}", url_name="accounting_invoice_payment")
def invoice_payment_fetch(request, object_id: str, query: Query[ConnectionQuery]):
    return _fetch(request, query, INVOICE_PAYMENTS, object_id)


@accounting.get("/bill_payments", url_name="accounting_bill_payments")
def bill_payment_list(request, query: Query[ListQuery]):
    return _page(request, query, BILL_PAYMENTS)


@accounting.get("/bill_payments/{object_id}", url_name="accounting_bill_payment")
def bill_payment_fetch(request, object_id: str, query: Query[ConnectionQuery]):
    return _fetch(request, query, BILL_PAYMENTS, object_id)


@accounting.get("/expenses", url_name="accounting_expenses")
def expense_list(request, query: Query[ExpenseListQuery]):
    of_type = Q(expense_type=query.expense_type) if query.expense_type else None
    return _page(request, query, EXPENSES, of_type)


@accounting.get("/expenses/{object_id}", url_name="accounting_expense")
def expense_fetch(request, object_id: str, query: Query[ConnectionQuery]):
    return _fetch(request, query, EXPENSES, object_id)


@accounting.get("/journal_entries", url_name="accounting_journal_entries")
def journal_entry_list(request, query: Query[ListQuery]):
    return _page(request, query, JOURNAL_ENTRIES)


@accounting.get("/journal_entries/{object_id}", url_name="accounting_journal_entry")
def journal_entry_fetch(request, object_id: str, query: Query[ConnectionQuery]):
    return _fetch(request, query, JOURNAL_ENTRIES, object_id)


def connection_for(request, access_token):
    """The connection this token opens within the key's scope, or a 401.

    A token of another organisation or environment fails exactly like a
    token that never existed.
    """
    connection = _connection_by_token(request, access_token)
    if connection is None:
        raise invalid_credentials(UNKNOWN_TOKEN)

    # The key's organisation is the connection's; reusing it, and handing
    # the connection to the request log, saves a query each per request.
    connection.organisation = request.scope.organisation
    request.rutter_connection = connection
    return connection


def _connection_by_token(request, access_token):
    # The API layer usually looked the token up while checking the key.
    admission = getattr(request, "rutter_admission", None)
    if admission is not None:
        looked_up, connection = admission.connection_for(access_token)
        if looked_up:
            return connection
    return services.connection_by_token(request.scope, access_token)


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


def _page(request, query, books, narrowing=None):
    connection = readable_connection(request, query)
    rows = books.rows(connection)
    if narrowing is not None:
        rows = rows.filter(narrowing)
    page, next_cursor = paginate(rows, query)

    return {
        "connection": serializers.connection_ref(connection),
        books.plural: [books.serialize(row) for row in page],
        "next_cursor": next_cursor,
    }


def _fetch(request, query, books, object_id):
    connection = readable_connection(request, query)
    row = _one_of(books.rows(connection), object_id)

    return {
        "connection": serializers.connection_ref(connection),
        books.singular: books.serialize(row),
    }


def _one_of(rows, object_id):
    """The row with this id among the connection's, else the API's 404."""
    try:
        return rows.get(pk=object_id)
    except (rows.model.DoesNotExist, ValidationError, ValueError):
        raise not_found(f"No {rows.model._meta.verbose_name} with this id.") from None


def balance(account):
    """An account read through ledger.with_balances: its normal-side balance."""
    debit_total = account.debit_total
    if debit_total is None:
        return 0
    return -debit_total if account.category in CREDIT_NORMAL else debit_total
