"""Word lists the generator draws plausible names and places from."""

from dataclasses import dataclass
from decimal import Decimal

COMPANY_WORDS = (
    "Acorn", "Alder", "Amber", "Anchor", "Apex", "Arbor", "Aspen", "Beacon",
    "Birch", "Bright", "Brook", "Cedar", "Clear", "Coastal", "Cobalt",
    "Crescent", "Crown", "Delta", "Eastgate", "Ember", "Evergreen", "Falcon",
    "Fern", "Fox", "Garnet", "Granite", "Harbor", "Hazel", "Highland",
    "Horizon", "Iron", "Ivy", "Juniper", "Keystone", "Lakeside", "Laurel",
    "Lighthouse", "Linden", "Maple", "Meadow", "Mesa", "Northstar", "Oak",
    "Orchard", "Pacific", "Pine", "Prairie", "Quarry", "Redwood", "Ridge",
    "River", "Rowan", "Sage", "Silver", "Slate", "Spruce", "Stone", "Summit",
    "Timber", "Valley", "Willow", "Wren",
)
CUSTOMER_TRADES = (
    "Cafe", "Bistro", "Market", "Grocers", "Hotel", "Deli", "Bakery",
    "Kitchen", "Foods", "Provisions", "Co-op", "Catering", "Eatery", "Inn",
    "Hospitality", "Retail", "Trading", "Stores", "Outfitters", "Goods",
)
VENDOR_TRADES = (
    "Supply", "Wholesale", "Logistics", "Packaging", "Distributors",
    "Imports", "Freight", "Materials", "Industries", "Traders",
)
SUFFIXES = ("LLC", "Inc.", "Co.", "Ltd", "Group", "& Sons", "Partners", "")

FIRST_NAMES = (
    "Ava", "Ben", "Chloe", "Daniel", "Elena", "Felix", "Grace", "Hugo",
    "Isla", "Jack", "Kara", "Liam", "Maya", "Noah", "Olivia", "Priya",
    "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Yara", "Zoe",
)
LAST_NAMES = (
    "Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes",
    "Ito", "Jones", "Khan", "Lopez", "Murphy", "Nguyen", "Okafor", "Patel",
    "Reid", "Silva", "Turner", "Walsh", "Young",
)
STREETS = (
    "Main St", "High St", "Market St", "Church Rd", "Mill Lane", "Park Ave",
    "Station Rd", "King St", "Queen St", "Bridge St", "Elm St", "Harbour Rd",
    "Victoria Rd", "Oak Ave", "Union St", "Water St",
)

# Recurring suppliers that every business has, with the account they bill to.
SERVICE_VENDORS = (
    ("rent", "Landmark Property Management", "landmarkproperty.com"),
    ("utilities", "City Power & Water", "citypowerwater.com"),
    ("insurance", "Shield Mutual Insurance", "shieldmutual.com"),
    ("software", "Cloudware Subscriptions", "cloudware.io"),
    ("professional_fees", "Ledgerwise Accountants", "ledgerwise.com"),
    ("advertising", "Brightline Media", "brightlinemedia.com"),
    ("telephone", "Metro Telecom", "metrotelecom.com"),
)
# Merchants that show up on card and bank statements as one-off expenses.
EXPENSE_MERCHANTS = (
    ("office_supplies", "Staples"),
    ("office_supplies", "Office Depot"),
    ("travel_meals", "Delta Air Lines"),
    ("travel_meals", "Uber"),
    ("travel_meals", "Hilton Hotels"),
    ("travel_meals", "Local Diner"),
    ("advertising", "Google Ads"),
    ("advertising", "Meta Ads"),
    ("software", "Adobe"),
    ("software", "Slack"),
    ("freight_in", "UPS"),
    ("freight_in", "FedEx"),
    ("bank_fees", "Stripe"),
    ("repairs", "Handy Repairs"),
)


@dataclass(frozen=True)
class Item:
    """Something the business sells, with its income account and price range."""

    name: str
    account: str
    low: int
    high: int
    unit: str = "each"


ITEMS = (
    Item("Wholesale case - house blend", "sales", 60, 140),
    Item("Wholesale case - single origin", "sales", 90, 220),
    Item("Retail bags (dozen)", "sales", 45, 110),
    Item("Equipment rental", "sales", 80, 300),
    Item("Gift boxes", "sales", 30, 95),
    Item("Barista training", "services", 90, 160, "hour"),
    Item("Consulting", "services", 110, 220, "hour"),
    Item("Maintenance visit", "services", 120, 380),
    Item("Delivery", "shipping", 15, 60),
)


@dataclass(frozen=True)
class Locale:
    currency: str
    country: str
    tax_account_name: str
    tax_rate: Decimal
    cities: tuple
    postcode_digits: int


US = Locale(
    "USD",
    "US",
    "Sales Tax Payable",
    Decimal("0.0825"),
    (
        ("Portland", "OR"), ("Austin", "TX"), ("Denver", "CO"),
        ("Madison", "WI"), ("Asheville", "NC"), ("Boise", "ID"),
        ("Savannah", "GA"), ("Burlington", "VT"),
    ),
    5,
)
GB = Locale(
    "GBP",
    "GB",
    "VAT Payable",
    Decimal("0.20"),
    (
        ("Bristol", "England"), ("Leeds", "England"), ("York", "England"),
        ("Cardiff", "Wales"), ("Glasgow", "Scotland"), ("Bath", "England"),
    ),
    0,
)
EU = Locale(
    "EUR",
    "NL",
    "VAT Payable",
    Decimal("0.21"),
    (
        ("Utrecht", "Utrecht"), ("Haarlem", "North Holland"),
        ("Leiden", "South Holland"), ("Delft", "South Holland"),
    ),
    4,
)
# Platforms whose merchants mostly keep books outside the United States.
PLATFORM_LOCALES = {"FREEAGENT": GB, "KASHFLOW": GB, "EXACTONLINE": EU}


def locale_for(platform_code):
    return PLATFORM_LOCALES.get(platform_code, US)
