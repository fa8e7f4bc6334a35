"""What the business buys: bills from vendors, their payments, and expenses."""

from datetime import timedelta

from connections.models import (
    Bill,
    BillLine,
    BillPayment,
    Expense,
    ExpenseLine,
    JournalSource,
)
from platforms.sandbox.ledger import ZERO, money, settlement

SUPPLIER_BILLS_PER_MONTH = 11
EXPENSES_PER_MONTH = 34
PAID_BY_CARD = 0.65
PARTIAL = 0.05

# What one supplier bill line can be: description, account, price range.
STOCK = (
    ("Stock purchase", "cogs", 300, 2800),
    ("Packaging materials", "cogs", 80, 600),
    ("Inbound freight", "freight_in", 40, 320),
)
# Monthly bills per site, and quarterly ones: vendor kind, day, price range.
MONTHLY = (
    ("rent", 1, 2200, 4200),
    ("software", 3, 150, 400),
    ("telephone", 8, 120, 260),
    ("utilities", 12, 280, 640),
    ("advertising", 25, 300, 1100),
)
QUARTERLY = (("insurance", 15, 900, 1800), ("professional_fees", 20, 600, 1500))
EXPENSE_RANGES = {
    "office_supplies": (15, 250),
    "travel_meals": (12, 600),
    "advertising": (50, 900),
    "software": (10, 120),
    "freight_in": (20, 200),
    "bank_fees": (5, 80),
    "repairs": (60, 700),
}


def supplier_bills(books, days):
    for day in days:
        vendor = books.pick(books.suppliers)
        count = books.rng.choice((1, 1, 2, 3))
        stock = books.rng.sample(STOCK, count)
        lines = [
            (what, account, books.price(low, high))
            for what, account, low, high in stock
        ]
        write_bill(books, day, vendor, lines)


def service_bills(books, month):
    for kind, day, low, high in MONTHLY:
        for site in range(1, books.sites + 1):
            _service_bill(books, month.replace(day=day), kind, (low, high), site)
    if month.month % 3 == 1:
        for kind, day, low, high in QUARTERLY:
            _service_bill(books, month.replace(day=day), kind, (low, high), 1)


def equipment_bill(books, day):
    vendor = books.pick(books.suppliers)
    cost = books.scaled_price(8000, 20000)
    write_bill(books, day, vendor, [("New equipment", "equipment", cost)])
    books.add_equipment(day, cost)


def _service_bill(books, day, kind, prices, site):
    if day > books.today:
        return
    vendor = books.vendor_for(kind)
    label = books.account(kind).name
    if books.sites > 1:
        label = f"{label} - site {site}"
    write_bill(books, day, vendor, [(label, kind, books.price(*prices))])


def write_bill(books, day, vendor, lines):
    """A bill; lines are (description, account key, amount)."""
    number = books.next_number("bill", 5001)
    platform_id = f"bill-{number}"
    bill_id = books.ledger.object_id(Bill, platform_id)
    rows = [_bill_line(books, bill_id, *line) for line in lines]
    total = sum(row.total_amount for row in rows)
    due = day + timedelta(days=vendor.terms or 14)
    plan = _payment_plan(books, day, due, total)

    bill = books.ledger.new(
        Bill,
        platform_id,
        day,
        document_number=f"{vendor.row.name[:3].upper()}-{number}",
        issue_date=day,
        due_date=due,
        currency_code=books.locale.currency,
        sub_total=total,
        tax_amount=ZERO,
        total_amount=total,
        memo=rows[0].description,
        vendor_id=vendor.row.id,
        account_id=books.account("payable").id,
        **settlement(total, plan),
    )
    books.ledger.touch(bill, plan)
    books.ledger.add(day, bill, *rows)
    _post_bill(books, bill, rows)
    for sequence, (date, amount) in enumerate(plan, start=1):
        _bill_payment(books, bill, date, amount, sequence)


def _bill_line(books, bill_id, description, account, amount):
    return BillLine(
        bill_id=bill_id,
        account_id=books.account(account).id,
        description=description,
        quantity=1,
        unit_amount=amount,
        total_amount=amount,
    )


def _payment_plan(books, issue, due, total):
    """Bills are paid around their due date, now and then in two goes."""
    rng = books.rng
    first = max(issue, due + timedelta(days=round(rng.gauss(-1, 4))))
    plan = [(first, total)]
    if rng.random() < PARTIAL:
        part = money(total / 2)
        later = first + timedelta(days=rng.randint(10, 30))
        plan = [(first, part), (later, total - part)]
    return [(date, amount) for date, amount in plan if date <= books.today]


def _post_bill(books, bill, rows):
    payable = books.account("payable")
    postings = [
        (books.account_by_id[row.account_id], row.total_amount, row.description)
        for row in rows
    ]
    postings.append((payable, -bill.total_amount, "Bill"))
    books.ledger.post(
        bill.issue_date,
        JournalSource.BILL,
        bill.id,
        f"je-{bill.platform_id}",
        f"Bill {bill.document_number}",
        postings,
    )


def _bill_payment(books, bill, date, amount, sequence):
    platform_id = f"bpmt-{bill.platform_id}-{sequence}"
    bank = books.account("checking")
    payment = books.ledger.new(
        BillPayment,
        platform_id,
        date,
        account_id=bank.id,
        date=date,
        currency_code=books.locale.currency,
        total_amount=amount,
        memo=f"Payment of {bill.document_number}",
        vendor_id=bill.vendor_id,
        bill_id=bill.id,
    )
    books.ledger.add(date, payment)
    payable = books.account("payable")
    books.ledger.post(
        date,
        JournalSource.BILL_PAYMENT,
        payment.id,
        f"je-{platform_id}",
        payment.memo,
        [(payable, amount, bill.document_number), (bank, -amount, "Payment")],
    )


def expenses(books, days):
    for day in days:
        merchant = books.rng.choice(books.merchants)
        write_expense(books, day, merchant)


def write_expense(books, day, merchant):
    rng = books.rng
    number = books.next_number("expense", 1)
    platform_id = f"exp-{number}"
    expense_id = books.ledger.object_id(Expense, platform_id)
    kinds = [merchant.trade]
    if rng.random() < 0.2:
        kinds.append(rng.choice(list(EXPENSE_RANGES)))
    lines = [_expense_line(books, expense_id, merchant, kind) for kind in kinds]
    total = sum(line.total_amount for line in lines)
    paid_from = "card" if rng.random() < PAID_BY_CARD else "checking"

    expense = books.ledger.new(
        Expense,
        platform_id,
        day,
        account_id=books.account(paid_from).id,
        vendor_id=merchant.row.id,
        transaction_date=day,
        currency_code=books.locale.currency,
        total_amount=total,
        memo=merchant.row.name,
    )
    books.ledger.add(day, expense, *lines)
    if paid_from == "card":
        books.track_card(day, total)
    _post_expense(books, expense, lines)


def _expense_line(books, expense_id, merchant, kind):
    account = books.account(kind)
    return ExpenseLine(
        expense_id=expense_id,
        account_id=account.id,
        description=f"{merchant.row.name} - {account.name}",
        total_amount=books.price(*EXPENSE_RANGES[kind]),
    )


def _post_expense(books, expense, lines):
    postings = [
        (books.account_by_id[line.account_id], line.total_amount, line.description)
        for line in lines
    ]
    paid_from = books.account_by_id[expense.account_id]
    postings.append((paid_from, -expense.total_amount, expense.memo))
    books.ledger.post(
        expense.transaction_date,
        JournalSource.EXPENSE,
        expense.id,
        f"je-{expense.platform_id}",
        f"Expense at {expense.memo}",
        postings,
    )
