import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from platforms import catalog
from rutterdash import crypto
from rutterdash.scoping import ScopedModel, ScopedQuerySet

MONEY = {"max_digits": 18, "decimal_places": 2}

# Entities a sync fills, in the order it writes them.
ENTITIES = (
    "company_info",
    "accounts",
    "customers",
    "vendors",
    "invoices",
    "bills",
    "invoice_payments",
    "bill_payments",
    "expenses",
    "journal_entries",
)


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    NEEDS_MAINTENANCE = "needs_maintenance", "Needs maintenance"
    SYNCING = "syncing", "Syncing"


class SyncStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


NEEDS_MAINTENANCE = Q(disabled=True) | Q(needs_reauth=True) | Q(
    sync_status=SyncStatus.FAILED
)
SYNCING = ~NEEDS_MAINTENANCE & (
    Q(is_ready=False) | Q(sync_status__in=[SyncStatus.QUEUED, SyncStatus.RUNNING])
)
ACTIVE = ~NEEDS_MAINTENANCE & ~SYNCING

STATUS_FILTERS = {
    ConnectionStatus.ACTIVE: ACTIVE,
    ConnectionStatus.NEEDS_MAINTENANCE: NEEDS_MAINTENANCE,
    ConnectionStatus.SYNCING: SYNCING,
}


class ConnectionQuerySet(ScopedQuerySet):
    def with_status(self, status):
        return self.filter(STATUS_FILTERS[status])

    def with_access_token(self, token):
        return self.filter(access_token_hash=crypto.keyed_hash(token))


class Connection(ScopedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    platform = models.CharField(max_length=32, choices=catalog.choices())
    store_name = models.CharField(max_length=200, blank=True)
    store_domain = models.CharField(max_length=200, blank=True)

    access_token_hash = models.CharField(max_length=64, unique=True)
    access_token_encrypted = models.TextField()
    access_token_prefix = models.CharField(max_length=32)

    is_ready = models.BooleanField(default=False)
    needs_reauth = models.BooleanField(default=False)
    needs_reauth_reason = models.CharField(max_length=200, blank=True)
    disabled = models.BooleanField(default=False)
    disabled_reason = models.CharField(max_length=200, blank=True)

    sync_status = models.CharField(
        max_length=16, choices=SyncStatus.choices, default=SyncStatus.QUEUED
    )
    sync_progress = models.PositiveSmallIntegerField(default=0)
    sync_error = models.TextField(blank=True)
    sync_attempt = models.PositiveSmallIntegerField(default=0)

    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    last_sync_started_at = models.DateTimeField(null=True, blank=True)
    last_sync_completed_at = models.DateTimeField(null=True, blank=True)

    objects = ConnectionQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["organisation", "environment", "-created"]),
        ]

    def __str__(self):
        return f"{self.platform_name} · {self.store_name or self.id}"

    def set_access_token(self, token):
        self.access_token_hash = crypto.keyed_hash(token)
        self.access_token_encrypted = crypto.encrypt(token)
        # "access-sandbox-" and the first 8 characters of the uuid.
        self.access_token_prefix = token[:-28]

    def access_token(self):
        return crypto.decrypt(self.access_token_encrypted)

    @property
    def platform_info(self):
        return catalog.get(self.platform)

    @property
    def platform_name(self):
        info = self.platform_info
        return info.name if info else self.platform

    @property
    def status(self):
        if self.disabled or self.needs_reauth or self.sync_status == SyncStatus.FAILED:
            return ConnectionStatus.NEEDS_MAINTENANCE
        if not self.is_ready or self.sync_status in (
            SyncStatus.QUEUED,
            SyncStatus.RUNNING,
        ):
            return ConnectionStatus.SYNCING
        return ConnectionStatus.ACTIVE

    @property
    def link_url(self):
        return f"{settings.SITE_URL}/connection/{self.id}"


class EntitySync(models.Model):
    """How far the latest sync got for one entity of one connection."""

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="entity_syncs"
    )
    entity = models.CharField(max_length=32)
    status = models.CharField(
        max_length=16, choices=SyncStatus.choices, default=SyncStatus.QUEUED
    )
    count = models.PositiveIntegerField(default=0)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "entity"], name="one_sync_row_per_entity"
            )
        ]


class BooksObject(models.Model):
    """A record read from (or written to) a connection's accounting platform."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="+"
    )
    platform_id = models.CharField(max_length=64)
    platform_created_at = models.DateTimeField(null=True, blank=True)
    platform_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "platform_id"],
                name="%(app_label)s_%(class)s_unique_platform_id",
            )
        ]


class CompanyInfo(BooksObject):
    name = models.CharField(max_length=200)
    legal_name = models.CharField(max_length=200, blank=True)
    currency_code = models.CharField(max_length=3, default="USD")
    address = models.CharField(max_length=300, blank=True)
    fiscal_year_start_month = models.PositiveSmallIntegerField(default=1)


class AccountCategory(models.TextChoices):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"
    NONPOSTING = "nonposting"
    UNKNOWN = "unknown"


class Account(BooksObject):
    name = models.CharField(max_length=200)
    nominal_code = models.CharField(max_length=32, blank=True)
    account_type = models.CharField(max_length=32)
    category = models.CharField(max_length=16, choices=AccountCategory.choices)
    status = models.CharField(max_length=16, default="active")
    currency_code = models.CharField(max_length=3, default="USD")
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta(BooksObject.Meta):
        ordering = ["nominal_code", "name"]

    def __str__(self):
        return f"{self.nominal_code} {self.name}".strip()


class Party(BooksObject):
    name = models.CharField(max_length=200)
    contact_name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    currency_code = models.CharField(max_length=3, default="USD")
    status = models.CharField(max_length=16, default="active")
    address_line1 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True)

    class Meta(BooksObject.Meta):
        abstract = True
        ordering = ["name"]

    def __str__(self):
        return self.name


class Customer(Party):
    pass


class Vendor(Party):
    website = models.CharField(max_length=200, blank=True)


class DocumentStatus(models.TextChoices):
    DRAFT = "draft"
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"


class Document(BooksObject):
    """What invoices and bills share: a dated amount owed, with lines."""

    document_number = models.CharField(max_length=64, blank=True)
    issue_date = models.DateField()
    due_date = models.DateField(null=True, blank=True)
    currency_code = models.CharField(max_length=3, default="USD")
    status = models.CharField(max_length=16, choices=DocumentStatus.choices)
    sub_total = models.DecimalField(**MONEY)
    tax_amount = models.DecimalField(**MONEY, default=0)
    total_amount = models.DecimalField(**MONEY)
    amount_due = models.DecimalField(**MONEY)
    memo = models.CharField(max_length=500, blank=True)

    class Meta(BooksObject.Meta):
        abstract = True
        ordering = ["issue_date", "document_number"]


class Invoice(Document):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")


class Bill(Document):
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")


class DocumentLine(models.Model):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=500, blank=True)
    quantity = models.DecimalField(max_digits=18, decimal_places=4, default=1)
    unit_amount = models.DecimalField(**MONEY)
    total_amount = models.DecimalField(**MONEY)

    class Meta:
        abstract = True
        ordering = ["pk"]


class InvoiceLine(DocumentLine):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")


class BillLine(DocumentLine):
    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="lines")


class Payment(BooksObject):
    """Money moved against one invoice or bill, through a bank account."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    date = models.DateField()
    currency_code = models.CharField(max_length=3, default="USD")
    total_amount = models.DecimalField(**MONEY)
    memo = models.CharField(max_length=500, blank=True)

    class Meta(BooksObject.Meta):
        abstract = True
        ordering = ["date"]


class InvoicePayment(Payment):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="payments"
    )


class BillPayment(Payment):
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="+")
    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="payments")


class Expense(BooksObject):
    """A purchase paid at once from a bank or card account."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    vendor = models.ForeignKey(
        Vendor, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    transaction_date = models.DateField()
    currency_code = models.CharField(max_length=3, default="USD")
    expense_type = models.CharField(max_length=16, default="expense")
    total_amount = models.DecimalField(**MONEY)
    memo = models.CharField(max_length=500, blank=True)

    class Meta(BooksObject.Meta):
        ordering = ["transaction_date"]


class ExpenseLine(models.Model):
    expense = models.ForeignKey(Expense, on_delete=models.CASCADE, related_name="lines")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=500, blank=True)
    total_amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["pk"]


class JournalSource(models.TextChoices):
    MANUAL = "manual"
    INVOICE = "invoice"
    BILL = "bill"
    INVOICE_PAYMENT = "invoice_payment"
    BILL_PAYMENT = "bill_payment"
    EXPENSE = "expense"


class JournalEntry(BooksObject):
    transaction_date = models.DateField()
    currency_code = models.CharField(max_length=3, default="USD")
    memo = models.CharField(max_length=500, blank=True)
    source_type = models.CharField(max_length=20, choices=JournalSource.choices)
    source_id = models.UUIDField(null=True, blank=True)

    class Meta(BooksObject.Meta):
        ordering = ["transaction_date", "platform_id"]
        verbose_name_plural = "journal entries"


class JournalLine(models.Model):
    """One posting. Debits are positive, credits negative; an entry sums to 0.

    Connection and date are copied from the entry so that ledger reports can
    aggregate hundreds of thousands of lines without a join.
    """

    entry = models.ForeignKey(
        JournalEntry, on_delete=models.CASCADE, related_name="lines"
    )
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="+"
    )
    transaction_date = models.DateField()
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=500, blank=True)
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["connection", "account", "transaction_date"]),
        ]
