"""Customers and vendors, each with the habits that shape their documents."""

from dataclasses import dataclass

from connections.models import Customer, Vendor
from platforms.sandbox import names

CUSTOMERS = 40
SUPPLIERS = 5


@dataclass
class Party:
    """A customer or vendor row with how it behaves in the books."""

    row: object
    weight: float
    terms: int
    lateness: float = 0.0
    taxable: bool = False
    kind: str = "supplier"
    trade: str = ""


def make_customers(books):
    count = max(3, round(CUSTOMERS * books.scale))
    return [_customer(books, number) for number in range(1, count + 1)]


def make_vendors(books):
    services = [_service_vendor(books, *spec) for spec in names.SERVICE_VENDORS]
    merchants = {name: kind for kind, name in names.EXPENSE_MERCHANTS}
    shops = [_merchant(books, name, kind) for name, kind in merchants.items()]
    count = max(2, round(SUPPLIERS * books.scale))
    suppliers = [_supplier(books, number) for number in range(1, count + 1)]
    return services + shops + suppliers


def _customer(books, number):
    rng = books.rng
    name = books.unique_name(names.CUSTOMER_TRADES)
    row = books.ledger.new(
        Customer, f"cus-{number:05d}", books.start, **_contact(books, name)
    )
    return Party(
        row,
        weight=rng.paretovariate(1.6),
        terms=rng.choice((14, 30, 30, 30, 45)),
        lateness=rng.gauss(9, 9),
        taxable=rng.random() < 0.7,
        kind="customer",
    )


def _supplier(books, number):
    name = books.unique_name(names.VENDOR_TRADES)
    row = books.ledger.new(
        Vendor, f"ven-{number:05d}", books.start, **_contact(books, name)
    )
    row.website = _domain(name)
    weight = books.rng.paretovariate(2.0)
    return Party(row, weight=weight, terms=books.rng.choice((15, 30, 30, 60)))


def _service_vendor(books, kind, name, website):
    row = books.ledger.new(
        Vendor, f"ven-{kind}", books.start, **_contact(books, name)
    )
    row.website = website
    return Party(row, weight=1.0, terms=14, kind=kind)


def _merchant(books, name, kind):
    slug = _slug(name)
    row = books.ledger.new(
        Vendor, f"ven-{slug}", books.start, **_contact(books, name)
    )
    row.website = f"{slug}.com"
    return Party(row, weight=1.0, terms=0, kind="merchant", trade=kind)


def _contact(books, company):
    rng = books.rng
    first = rng.choice(names.FIRST_NAMES)
    last = rng.choice(names.LAST_NAMES)
    city, region = rng.choice(books.locale.cities)
    return {
        "name": company,
        "contact_name": f"{first} {last}",
        "email": f"{first.lower()}@{_domain(company)}",
        "phone": _phone(rng),
        "currency_code": books.locale.currency,
        "address_line1": f"{rng.randint(1, 999)} {rng.choice(names.STREETS)}",
        "city": city,
        "region": region,
        "postal_code": _postcode(rng, books.locale),
        "country": books.locale.country,
    }


def _phone(rng):
    return f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


def _postcode(rng, locale):
    if locale.postcode_digits == 0:
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        area = rng.choice(("BS", "LS", "YO", "CF", "G", "BA"))
        outward = f"{area}{rng.randint(1, 20)}"
        inward = f"{rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"
        return f"{outward} {inward}"
    low = 10 ** (locale.postcode_digits - 1)
    return str(rng.randint(low, 10 * low - 1))


def _slug(name):
    return "".join(ch for ch in name.lower() if ch.isalnum())[:40]


def _domain(name):
    return f"{_slug(name)}.com"
