"""The chart of accounts every sandbox business keeps."""

from dataclasses import dataclass

from connections.models import AccountCategory as C


@dataclass(frozen=True)
class AccountSpec:
    key: str
    code: str
    name: str
    account_type: str
    category: str


def _a(key, code, name, account_type, category):
    return AccountSpec(key, code, name, account_type, category)


# The sales tax account's name depends on the locale, so it is a placeholder.
SALES_TAX_NAME = "{sales_tax}"

CHART = (
    _a("checking", "1000", "Business Checking", "bank", C.ASSET),
    _a("savings", "1010", "Business Savings", "bank", C.ASSET),
    _a("receivable", "1100", "Accounts Receivable", "accounts_receivable", C.ASSET),
    _a("inventory", "1200", "Inventory", "other_current_asset", C.ASSET),
    _a("equipment", "1500", "Equipment", "fixed_asset", C.ASSET),
    _a(
        "depreciation_acc",
        "1510",
        "Accumulated Depreciation",
        "fixed_asset",
        C.ASSET,
    ),
    _a("payable", "2000", "Accounts Payable", "accounts_payable", C.LIABILITY),
    _a("card", "2100", "Company Credit Card", "credit_card", C.LIABILITY),
    _a(
        "sales_tax",
        "2200",
        SALES_TAX_NAME,
        "other_current_liability",
        C.LIABILITY,
    ),
    _a(
        "payroll_liabilities",
        "2300",
        "Payroll Liabilities",
        "other_current_liability",
        C.LIABILITY,
    ),
    _a("loan", "2700", "Equipment Loan", "long_term_liability", C.LIABILITY),
    _a("capital", "3000", "Owner's Capital", "equity", C.EQUITY),
    _a("drawings", "3100", "Owner's Drawings", "equity", C.EQUITY),
    _a("retained", "3900", "Retained Earnings", "equity", C.EQUITY),
    _a("sales", "4000", "Product Sales", "income", C.INCOME),
    _a("services", "4100", "Service Revenue", "income", C.INCOME),
    _a("shipping", "4200", "Shipping Income", "income", C.INCOME),
    _a("interest_income", "4900", "Interest Income", "other_income", C.INCOME),
    _a("cogs", "5000", "Cost of Goods Sold", "cost_of_goods_sold", C.EXPENSE),
    _a("freight_in", "5100", "Freight In", "cost_of_goods_sold", C.EXPENSE),
    _a("advertising", "6000", "Advertising & Marketing", "expense", C.EXPENSE),
    _a("bank_fees", "6100", "Bank & Merchant Fees", "expense", C.EXPENSE),
    _a("depreciation", "6200", "Depreciation Expense", "expense", C.EXPENSE),
    _a("insurance", "6300", "Insurance", "expense", C.EXPENSE),
    _a("office_supplies", "6400", "Office Supplies", "expense", C.EXPENSE),
    _a("rent", "6500", "Rent", "expense", C.EXPENSE),
    _a("utilities", "6600", "Utilities", "expense", C.EXPENSE),
    _a("telephone", "6650", "Telephone & Internet", "expense", C.EXPENSE),
    _a("software", "6700", "Software Subscriptions", "expense", C.EXPENSE),
    _a("repairs", "6750", "Repairs & Maintenance", "expense", C.EXPENSE),
    _a("wages", "6800", "Wages & Salaries", "expense", C.EXPENSE),
    _a("payroll_taxes", "6850", "Payroll Taxes", "expense", C.EXPENSE),
    _a("travel_meals", "6900", "Travel & Meals", "expense", C.EXPENSE),
    _a("professional_fees", "6950", "Professional Fees", "expense", C.EXPENSE),
    _a("interest_expense", "7000", "Interest Expense", "other_expense", C.EXPENSE),
)
