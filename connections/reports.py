"""The financial report workbook: the ledger reports of a chosen period.

Figures come from connections.ledger; this module only lays them out.
Each sheet ends with a check row whose value is zero when the books tie,
written as a value so that it reads the same in any spreadsheet.
"""

from datetime import timedelta

from connections import ledger
from rutterdash import xlsx
from rutterdash.xlsx import Column

CODE = Column("Code", width=10)
ACCOUNT = Column("Account", width=36)
AMOUNT_WIDTH = 15


def default_period(today):
    """The last 12 full months before `today`: (first day, last day)."""
    end = today.replace(day=1) - timedelta(days=1)
    start = end.replace(day=1)
    for _ in range(11):
        start = (start - timedelta(days=1)).replace(day=1)
    return start, end


def write_financial_report(connection, start, end, fileobj):
    """Write the reports for start..end (balances as of end) to `fileobj`."""
    if start > end:
        raise ValueError("The period must start on or before its end.")

    with ledger.snapshot():
        reports = (
            ledger.balance_sheet(connection, end),
            ledger.income_statement(connection, start, end),
            ledger.trial_balance(connection, end),
            ledger.receivables_aging(connection, end),
            ledger.payables_aging(connection, end),
        )

    book = xlsx.Workbook()
    balance, income, trial, receivables, payables = reports
    _balance_sheet(book, balance)
    _income_statement(book, income)
    _trial_balance(book, trial)
    _aging(book, "AR Aging", "Customer", receivables, "receivable")
    _aging(book, "AP Aging", "Vendor", payables, "payable")
    book.save(fileobj)


def _money(header):
    return Column(header, xlsx.MONEY, AMOUNT_WIDTH)


def _day(value):
    return f"{value:%d %b %Y}"


def _balance_sheet(book, report):
    amount = _money(f"Balance at {_day(report.as_of)}")
    sheet = book.add_sheet("Balance Sheet", [CODE, ACCOUNT, amount])

    for section in (report.assets, report.liabilities, report.equity):
        _statement_section(sheet, section)
    sheet.append_emphasised(
        [None, "Total liabilities and equity", report.liabilities_and_equity]
    )
    sheet.append_emphasised(
        [None, "Check: Assets - (Liabilities + Equity)", report.difference]
    )


def _statement_section(sheet, section):
    sheet.append_emphasised([None, section.title, None])
    sheet.extend([line.code, line.label, line.amount] for line in section.lines)
    sheet.append_emphasised([None, f"Total {section.title.lower()}", section.total])


def _income_statement(book, report):
    months = [_money(f"{month:%b %Y}") for month in report.months]
    columns = [CODE, ACCOUNT, *months, _money("Total")]
    sheet = book.add_sheet("Income Statement", columns)

    _monthly_section(sheet, report.income)
    _monthly_section(sheet, report.cost_of_sales)
    _monthly_total(sheet, "Gross profit", report.gross_profit)
    _monthly_section(sheet, report.expenses)
    _monthly_total(sheet, "Net income", report.net_income)


def _monthly_section(sheet, section):
    sheet.append_emphasised([None, section.title])
    sheet.extend(
        [line.code, line.label, *line.amounts, line.total] for line in section.lines
    )
    _monthly_total(sheet, f"Total {section.title.lower()}", section.totals)


def _monthly_total(sheet, label, amounts):
    sheet.append_emphasised([None, label, *amounts, sum(amounts, ledger.ZERO)])


def _trial_balance(book, report):
    columns = [
        CODE,
        ACCOUNT,
        Column("Type", width=24),
        _money("Debit"),
        _money("Credit"),
    ]
    sheet = book.add_sheet("Trial Balance", columns)

    sheet.extend(
        [row.code, row.name, row.account_type, row.debit or None, row.credit or None]
        for row in report.rows
    )
    total_debit, total_credit = report.total_debit, report.total_credit
    sheet.append_emphasised([None, "Total", None, total_debit, total_credit])
    check = total_debit - total_credit
    sheet.append_emphasised([None, "Check: Debits - Credits", None, check, None])


def _aging(book, title, party, report, control):
    buckets = [_money(bucket) for bucket in ledger.AGING_BUCKETS]
    columns = [Column(party, width=36), *buckets, _money("Total")]
    sheet = book.add_sheet(title, columns)
    blank = [None] * len(buckets)

    sheet.extend([row.party, *row.buckets, row.total] for row in report.rows)
    sheet.append_emphasised(["Total", *report.bucket_totals, report.total])
    balance_label = f"Accounts {control} balance at {_day(report.as_of)}"
    sheet.append_emphasised([balance_label, *blank, report.ledger_balance])
    check_label = f"Check: Total - Accounts {control} balance"
    sheet.append_emphasised([check_label, *blank, report.difference])
