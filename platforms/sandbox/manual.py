"""Manual journal entries: opening capital, payroll, depreciation and the like."""

from decimal import Decimal

from platforms.sandbox.ledger import money

EMPLOYER_TAX = Decimal("0.0765")
WITHHELD = Decimal("0.22")
DEPRECIATION_MONTHS = 60
LOAN_MONTHS = 48
LOAN_RATE = Decimal("0.07") / 12
SAVINGS_RATE = Decimal("0.02") / 12


def opening(books, day):
    cash = books.scaled_price(100000, 160000)
    savings = books.scaled_price(15000, 30000)
    stock = books.scaled_price(8000, 16000)
    books.manual(
        day,
        "opening-capital",
        "Opening balances: owner's capital",
        [
            (books.account("checking"), cash, "Opening balance"),
            (books.account("savings"), savings, "Opening balance"),
            (books.account("inventory"), stock, "Opening stock"),
            (books.account("capital"), -(cash + savings + stock), "Capital"),
        ],
    )
    books.savings = savings
    _opening_equipment(books, day)


def _opening_equipment(books, day):
    cost = books.scaled_price(20000, 45000)
    loan = money(cost * Decimal("0.8"))
    books.manual(
        day,
        "opening-equipment",
        "Opening balances: equipment financed by a loan",
        [
            (books.account("equipment"), cost, "Equipment at cost"),
            (books.account("loan"), -loan, "Equipment loan"),
            (books.account("checking"), loan - cost, "Deposit paid"),
        ],
    )
    books.add_equipment(day, cost)
    books.loan_balance = loan
    books.loan_instalment = money(loan / LOAN_MONTHS)


def month_entries(books, month, month_end, index):
    """The month's recurring entries; those dated after today are skipped."""
    _loan_repayment(books, month.replace(day=5))
    _payroll_remittance(books, month.replace(day=15))
    _card_payoff(books, month.replace(day=20))
    if month.month % 3 == 1:
        _sales_tax_remittance(books, month.replace(day=20))
    if month.month % 3 == 0:
        _owner_drawings(books, month.replace(day=25))
    _payroll(books, month_end, index)
    _depreciation(books, month_end)
    _savings_interest(books, month_end)


def _loan_repayment(books, day):
    principal = min(books.loan_instalment, books.loan_balance)
    if principal <= 0 or day > books.today:
        return
    interest = money(books.loan_balance * LOAN_RATE)
    books.loan_balance -= principal
    books.manual(
        day,
        f"loan-{day:%Y-%m}",
        "Equipment loan repayment",
        [
            (books.account("loan"), principal, "Principal"),
            (books.account("interest_expense"), interest, "Interest"),
            (books.account("checking"), -(principal + interest), "Repayment"),
        ],
    )


def _payroll(books, day, index):
    gross = money(books.payroll * (1 + Decimal(index) / 50))
    tax = money(gross * EMPLOYER_TAX)
    withheld = money(gross * WITHHELD)
    if not books.manual(
        day,
        f"payroll-{day:%Y-%m}",
        f"Payroll for {day:%B %Y}",
        [
            (books.account("wages"), gross, "Gross wages"),
            (books.account("payroll_taxes"), tax, "Employer taxes"),
            (books.account("checking"), withheld - gross, "Net pay"),
            (books.account("payroll_liabilities"), -(withheld + tax), "Withheld"),
        ],
    ):
        return
    books.owed["payroll", day.year, day.month] = withheld + tax


def _payroll_remittance(books, day):
    previous = books.previous_month(day)
    owed = books.owed.pop(("payroll", previous.year, previous.month), 0)
    _settle(books, day, "payroll-tax", owed, "payroll_liabilities", "Payroll taxes")


def _card_payoff(books, day):
    previous = books.previous_month(day)
    owed = books.owed.pop(("card", previous.year, previous.month), 0)
    _settle(books, day, "card", owed, "card", "Credit card payment")


def _sales_tax_remittance(books, day):
    quarter = (books.previous_month(day).month - 1) // 3
    year = books.previous_month(day).year
    owed = books.owed.pop(("tax", year, quarter), 0)
    label = books.account("sales_tax").name
    _settle(books, day, "sales-tax", owed, "sales_tax", f"{label} remittance")


def _settle(books, day, kind, amount, liability, memo):
    if amount <= 0:
        return
    books.manual(
        day,
        f"{kind}-{day:%Y-%m}",
        memo,
        [
            (books.account(liability), amount, memo),
            (books.account("checking"), -amount, memo),
        ],
    )


def _owner_drawings(books, day):
    amount = books.scaled_price(2000, 6000)
    books.manual(
        day,
        f"drawings-{day:%Y-%m}",
        "Owner's drawings",
        [
            (books.account("drawings"), amount, "Drawings"),
            (books.account("checking"), -amount, "Transfer to owner"),
        ],
    )


def _depreciation(books, day):
    amount = money(books.equipment_cost(day) / DEPRECIATION_MONTHS)
    books.manual(
        day,
        f"depreciation-{day:%Y-%m}",
        f"Depreciation for {day:%B %Y}",
        [
            (books.account("depreciation"), amount, "Straight line"),
            (books.account("depreciation_acc"), -amount, "Straight line"),
        ],
    )


def _savings_interest(books, day):
    amount = money(books.savings * SAVINGS_RATE)
    books.manual(
        day,
        f"interest-{day:%Y-%m}",
        "Interest earned",
        [
            (books.account("savings"), amount, "Interest"),
            (books.account("interest_income"), -amount, "Interest"),
        ],
    )
