"""A small hand-built set of books whose reports are worked out by hand.

Posted the way every document posts (see the accounting conventions):

    2023-12-01  owner puts in 10,000 capital
    2023-12-15  INV-0 to Alder 1,000, due 2023-12-30, never paid
    2024-01-05  INV-1 to Alder 500, due 2024-02-04; paid 200 on 2024-02-10
                and 300 on 2024-04-01
    2024-01-10  B-1 from Vantage 300 of stock, due 2024-02-09; paid 2024-02-20
    2024-01-20  INV-2 to Birch 800, due the same day, never paid
    2024-02-01  rent of 400 paid straight from the bank
    2024-03-01  B-2 from Vantage 150 of rent, due 2024-03-31, never paid
"""

from datetime import date
from decimal import Decimal

from connections.models import (
    Account,
    Bill,
    BillLine,
    BillPayment,
    CompanyInfo,
    Customer,
    Expense,
    ExpenseLine,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    JournalEntry,
    JournalLine,
    Vendor,
)

# The day the reports below are worked out for.
AS_OF = date(2024, 3, 15)

CHART = (
    ("bank", "1000", "Business Checking", "bank", "asset"),
    ("receivable", "1100", "Accounts Receivable", "accounts_receivable", "asset"),
    ("payable", "2000", "Accounts Payable", "accounts_payable", "liability"),
    ("capital", "3000", "Owner's Capital", "equity", "equity"),
    ("sales", "4000", "Product Sales", "income", "income"),
    ("stock", "5000", "Cost of Goods Sold", "cost_of_goods_sold", "expense"),
    ("rent", "6500", "Rent", "expense", "expense"),
)


def money(text):
    return Decimal(text)


class SmallBook:
    def __init__(self, connection):
        self.connection = connection
        self.accounts = {}
        self._entries = 0
        self._ids = 0

    def build(self):
        CompanyInfo.objects.create(
            connection=self.connection, platform_id="company", name="Small Shop"
        )
        for key, code, name, account_type, category in CHART:
            self.accounts[key] = Account.objects.create(
                connection=self.connection,
                platform_id=f"acc-{code}",
                name=name,
                nominal_code=code,
                account_type=account_type,
                category=category,
            )
        self.alder = self._party(Customer, "Alder & Sons")
        self.birch = self._party(Customer, "Birch Ltd")
        self.vantage = self._party(Vendor, "Vantage Supplies")
        self._post_documents()
        return self

    def _post_documents(self):
        self.journal(date(2023, 12, 1), ("bank", "10000"), ("capital", "-10000"))
        alder, birch = self.alder, self.birch
        self.invoice("INV-0", alder, date(2023, 12, 15), date(2023, 12, 30), "1000")
        inv1 = self.invoice("INV-1", alder, date(2024, 1, 5), date(2024, 2, 4), "500")
        self.invoice_payment(inv1, date(2024, 2, 10), "200")
        self.invoice_payment(inv1, date(2024, 4, 1), "300")
        bill1 = self.bill("B-1", "stock", date(2024, 1, 10), date(2024, 2, 9), "300")
        self.bill_payment(bill1, date(2024, 2, 20), "300")
        self.invoice("INV-2", birch, date(2024, 1, 20), date(2024, 1, 20), "800")
        self.expense(date(2024, 2, 1), "rent", "400")
        self.bill("B-2", "rent", date(2024, 3, 1), date(2024, 3, 31), "150")

    def _next_id(self, prefix):
        self._ids += 1
        return f"{prefix}-{self._ids}"

    def _party(self, model, name):
        return model.objects.create(
            connection=self.connection, platform_id=self._next_id("party"), name=name
        )

    def journal(self, day, *postings, source_type="manual", source_id=None):
        self._entries += 1
        entry = JournalEntry.objects.create(
            connection=self.connection,
            platform_id=f"je-{self._entries}",
            transaction_date=day,
            source_type=source_type,
            source_id=source_id,
            memo=f"Entry {self._entries}",
        )
        JournalLine.objects.bulk_create(
            JournalLine(
                entry=entry,
                connection=self.connection,
                transaction_date=day,
                account=self.accounts[key],
                amount=money(amount),
            )
            for key, amount in postings
        )
        return entry

    def invoice(self, number, customer, issued, due, total):
        invoice = Invoice.objects.create(
            connection=self.connection,
            platform_id=self._next_id("inv"),
            document_number=number,
            customer=customer,
            account=self.accounts["receivable"],
            issue_date=issued,
            due_date=due,
            status="open",
            sub_total=money(total),
            total_amount=money(total),
            amount_due=money(total),
        )
        InvoiceLine.objects.create(
            invoice=invoice,
            account=self.accounts["sales"],
            description="Goods",
            unit_amount=money(total),
            total_amount=money(total),
        )
        self.journal(
            issued,
            ("receivable", total),
            ("sales", f"-{total}"),
            source_type="invoice",
            source_id=invoice.id,
        )
        return invoice

    def invoice_payment(self, invoice, day, amount):
        payment = InvoicePayment.objects.create(
            connection=self.connection,
            platform_id=self._next_id("ipay"),
            account=self.accounts["bank"],
            customer=invoice.customer,
            invoice=invoice,
            date=day,
            total_amount=money(amount),
        )
        self.journal(
            day,
            ("bank", amount),
            ("receivable", f"-{amount}"),
            source_type="invoice_payment",
            source_id=payment.id,
        )

    def bill(self, number, line_account, issued, due, total):
        bill = Bill.objects.create(
            connection=self.connection,
            platform_id=self._next_id("bill"),
            document_number=number,
            vendor=self.vantage,
            account=self.accounts["payable"],
            issue_date=issued,
            due_date=due,
            status="open",
            sub_total=money(total),
            total_amount=money(total),
            amount_due=money(total),
        )
        BillLine.objects.create(
            bill=bill,
            account=self.accounts[line_account],
            unit_amount=money(total),
            total_amount=money(total),
        )
        self.journal(
            issued,
            (line_account, total),
            ("payable", f"-{total}"),
            source_type="bill",
            source_id=bill.id,
        )
        return bill

    def bill_payment(self, bill, day, amount):
        payment = BillPayment.objects.create(
            connection=self.connection,
            platform_id=self._next_id("bpay"),
            account=self.accounts["bank"],
            vendor=bill.vendor,
            bill=bill,
            date=day,
            total_amount=money(amount),
        )
        self.journal(
            day,
            ("payable", amount),
            ("bank", f"-{amount}"),
            source_type="bill_payment",
            source_id=payment.id,
        )

    def expense(self, day, line_account, amount):
        expense = Expense.objects.create(
            connection=self.connection,
            platform_id=self._next_id("exp"),
            account=self.accounts["bank"],
            transaction_date=day,
            total_amount=money(amount),
        )
        ExpenseLine.objects.create(
            expense=expense,
            account=self.accounts[line_account],
            total_amount=money(amount),
        )
        self.journal(
            day,
            (line_account, amount),
            ("bank", f"-{amount}"),
            source_type="expense",
            source_id=expense.id,
        )
