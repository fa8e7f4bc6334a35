"""Rutter's platforms, as the API names them, with how the dashboard groups them."""

from dataclasses import dataclass

ACCOUNTING = "Accounting"
COMMERCE = "Commerce"
PAYMENTS = "Payments"
BANKING = "Banking"
ADS = "Ads"
CATEGORIES = (ACCOUNTING, COMMERCE, PAYMENTS, BANKING, ADS)

# How a business signs in to a platform in production: through an OAuth 2
# consent screen of the customer's own developer app, or by typing the
# platform's API credentials into Link.
OAUTH = "oauth"
CREDENTIALS = "credentials"

SIGNS_IN_WITH_OAUTH = frozenset(
    {
        "QUICKBOOKS", "XERO", "SAGE_BUSINESS_CLOUD", "ZOHOBOOKS", "WAVE",
        "FRESHBOOKS", "DYNAMICS365", "EXACTONLINE", "FREEAGENT",
        "SHOPIFY", "AMAZON", "BIG_COMMERCE", "EBAY", "ETSY", "SQUARESPACE",
        "WIX", "WEBFLOW", "ECWID", "MERCADOLIBRE", "GUMROAD",
        "STRIPE", "SQUARE", "PAYPAL", "MOLLIE", "CLOVER",
    }
)


@dataclass(frozen=True)
class Platform:
    code: str
    name: str
    category: str
    domain: str
    auth: str = CREDENTIALS

    @property
    def keeps_books(self):
        return self.category == ACCOUNTING

    @property
    def uses_oauth(self):
        return self.auth == OAUTH


def _p(code, name, category, domain):
    auth = OAUTH if code in SIGNS_IN_WITH_OAUTH else CREDENTIALS
    return Platform(code, name, category, domain, auth)


PLATFORMS = (
    _p("QUICKBOOKS", "QuickBooks Online", ACCOUNTING, "quickbooks.intuit.com"),
    _p("QUICKBOOKS_DESKTOP", "QuickBooks Desktop", ACCOUNTING, "quickbooks.intuit.com"),
    _p("XERO", "Xero", ACCOUNTING, "xero.com"),
    _p("NETSUITE", "NetSuite", ACCOUNTING, "netsuite.com"),
    _p("SAGE_BUSINESS_CLOUD", "Sage Business Cloud", ACCOUNTING, "sage.com"),
    _p("SAGE_INTACCT", "Sage Intacct", ACCOUNTING, "sageintacct.com"),
    _p("ZOHOBOOKS", "Zoho Books", ACCOUNTING, "zoho.com"),
    _p("WAVE", "Wave", ACCOUNTING, "waveapps.com"),
    _p("FRESHBOOKS", "FreshBooks", ACCOUNTING, "freshbooks.com"),
    _p("DYNAMICS365", "Microsoft Dynamics 365", ACCOUNTING, "dynamics.com"),
    _p("EXACTONLINE", "Exact Online", ACCOUNTING, "exact.com"),
    _p("KASHFLOW", "KashFlow", ACCOUNTING, "kashflow.com"),
    _p("FREEAGENT", "FreeAgent", ACCOUNTING, "freeagent.com"),
    _p("SHOPIFY", "Shopify", COMMERCE, "myshopify.com"),
    _p("AMAZON", "Amazon", COMMERCE, "amazon.com"),
    _p("BIG_COMMERCE", "BigCommerce", COMMERCE, "mybigcommerce.com"),
    _p("WOO_COMMERCE", "WooCommerce", COMMERCE, "woocommerce.com"),
    _p("MAGENTO", "Magento", COMMERCE, "magento.com"),
    _p("EBAY", "eBay", COMMERCE, "ebay.com"),
    _p("ETSY", "Etsy", COMMERCE, "etsy.com"),
    _p("WALMART", "Walmart", COMMERCE, "walmart.com"),
    _p("PRESTASHOP", "PrestaShop", COMMERCE, "prestashop.com"),
    _p("SHOPER", "Shoper", COMMERCE, "shoper.pl"),
    _p("SHOPWARE", "Shopware", COMMERCE, "shopware.com"),
    _p("SQUARESPACE", "Squarespace", COMMERCE, "squarespace.com"),
    _p("WIX", "Wix", COMMERCE, "wix.com"),
    _p("WEBFLOW", "Webflow", COMMERCE, "webflow.com"),
    _p("ECWID", "Ecwid", COMMERCE, "ecwid.com"),
    _p("COMMERCELAYER", "Commerce Layer", COMMERCE, "commercelayer.io"),
    _p("LAZADA", "Lazada", COMMERCE, "lazada.com"),
    _p("FNAC", "Fnac", COMMERCE, "fnac.com"),
    _p("ALIBABA", "Alibaba", COMMERCE, "alibaba.com"),
    _p("SHOPEE", "Shopee", COMMERCE, "shopee.com"),
    _p("MERCADOLIBRE", "Mercado Libre", COMMERCE, "mercadolibre.com"),
    _p("GUMROAD", "Gumroad", COMMERCE, "gumroad.com"),
    _p("SHOPLAZZA", "Shoplazza", COMMERCE, "shoplazza.com"),
    _p("SHOPLINE", "Shopline", COMMERCE, "shopline.com"),
    _p("STRIPE", "Stripe", PAYMENTS, "stripe.com"),
    _p("SQUARE", "Square", PAYMENTS, "squareup.com"),
    _p("PAYPAL", "PayPal", PAYMENTS, "paypal.com"),
    _p("MOLLIE", "Mollie", PAYMENTS, "mollie.com"),
    _p("CLOVER", "Clover", PAYMENTS, "clover.com"),
    _p("CHARGIFY", "Chargify", PAYMENTS, "chargify.com"),
    _p("CHARGEBEE", "Chargebee", PAYMENTS, "chargebee.com"),
    _p("RECURLY", "Recurly", PAYMENTS, "recurly.com"),
    _p("PLAID", "Plaid", BANKING, "plaid.com"),
)

BY_CODE = {platform.code: platform for platform in PLATFORMS}


def get(code):
    return BY_CODE.get((code or "").upper())


def choices():
    return [(platform.code, platform.name) for platform in PLATFORMS]


def search(text):
    """Platforms whose code or display name contains ``text``."""
    needle = text.strip().lower().replace(" ", "_")
    plain = text.strip().lower()
    return [
        platform
        for platform in PLATFORMS
        if needle in platform.code.lower() or plain in platform.name.lower()
    ]
