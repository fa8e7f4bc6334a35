"""The provider table, its overrides, and the consent URL built from them."""

from urllib.parse import urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured

from platforms import catalog, oauth
from tests.oauth_support import query_of

OAUTH_PLATFORMS = [p.code for p in catalog.PLATFORMS if p.uses_oauth]


def pending(**fields):
    return oauth.Pending(state="state-1", flow_id="flow-1", platform="X", **fields)


@pytest.mark.parametrize("code", OAUTH_PLATFORMS)
def test_every_oauth_platform_has_production_endpoints(code, settings):
    settings.OAUTH_PROVIDER_OVERRIDES = {}

    provider = oauth.provider_for(code)

    for url in (provider.authorize_url, provider.token_url):
        assert urlsplit(url).scheme == "https"
        assert urlsplit(url).hostname
    assert provider.client_auth in (oauth.BASIC, oauth.BODY)
    assert provider.token_format in (oauth.FORM, oauth.JSON)


def test_only_catalog_oauth_platforms_have_providers():
    assert set(oauth.PROVIDERS) == set(OAUTH_PLATFORMS)


def test_uses_oauth_follows_the_catalog():
    assert oauth.uses_oauth("QUICKBOOKS")
    assert oauth.uses_oauth("quickbooks")
    assert not oauth.uses_oauth("NETSUITE")
    assert not oauth.uses_oauth("NO_SUCH_PLATFORM")


def test_a_platform_without_oauth_has_no_provider():
    with pytest.raises(LookupError):
        oauth.provider_for("NETSUITE")


def test_the_redirect_uri_is_under_the_site_url(settings):
    settings.SITE_URL = "https://dash.lender.example"

    assert oauth.redirect_uri() == "https://dash.lender.example/link/oauth/callback"


def test_an_override_replaces_only_the_fields_it_names(settings):
    settings.OAUTH_PROVIDER_OVERRIDES = {
        "XERO": {"token_url": "http://127.0.0.1:9/token", "scopes": ["a", "b"]}
    }

    provider = oauth.provider_for("XERO")

    assert provider.token_url == "http://127.0.0.1:9/token"
    assert provider.scopes == ("a", "b")
    assert provider.authorize_url == oauth.PROVIDERS["XERO"].authorize_url
    assert provider.pkce


def test_an_override_with_an_unknown_field_fails_loudly(settings):
    settings.OAUTH_PROVIDER_OVERRIDES = {"XERO": {"token_uri": "http://x/"}}

    with pytest.raises(ImproperlyConfigured, match="token_uri"):
        oauth.provider_for("XERO")


def test_an_override_for_an_unknown_platform_fails_loudly(settings):
    settings.OAUTH_PROVIDER_OVERRIDES = {"QUICKBOOK": {"token_url": "http://x/"}}

    with pytest.raises(ImproperlyConfigured, match="platform codes: QUICKBOOK"):
        oauth.provider_for("XERO")


def test_the_consent_url_keeps_a_query_the_provider_needs(settings):
    settings.OAUTH_PROVIDER_OVERRIDES = {}
    provider = oauth.provider_for("SAGE_BUSINESS_CLOUD")

    url = oauth.authorize_url(provider, "sage-app", pending())

    assert url.startswith("https://www.sageone.com/oauth2/auth/central?filter=")
    sent = query_of(url)
    assert sent["filter"] == "apiv3.1"
    assert sent["client_id"] == "sage-app"
    assert sent["scope"] == "full_access"


def test_the_consent_url_joins_scopes_the_providers_way(settings):
    settings.OAUTH_PROVIDER_OVERRIDES = {}
    provider = oauth.provider_for("ZOHOBOOKS")

    sent = query_of(oauth.authorize_url(provider, "zoho-app", pending()))

    assert sent["scope"] == "ZohoBooks.fullaccess.all"
    assert sent["access_type"] == "offline"
    assert sent["prompt"] == "consent"


def test_the_consent_url_carries_the_pkce_challenge(settings):
    settings.OAUTH_PROVIDER_OVERRIDES = {}
    provider = oauth.provider_for("XERO")

    sent = query_of(
        oauth.authorize_url(provider, "xero-app", pending(verifier="v" * 64))
    )

    assert sent["code_challenge"] == oauth.code_challenge("v" * 64)
    assert sent["code_challenge_method"] == "S256"


def test_the_code_challenge_is_rfc_7636s_s256():
    # The example pair from RFC 7636, appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    assert (
        oauth.code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_shopify_endpoints_are_on_the_shops_domain(settings):
    settings.OAUTH_PROVIDER_OVERRIDES = {}
    provider = oauth.provider_for("SHOPIFY")

    url = oauth.authorize_url(provider, "shop-app", pending(shop="acme.myshopify.com"))

    assert url.startswith("https://acme.myshopify.com/admin/oauth/authorize?")
    assert query_of(url)["scope"] == "read_orders,read_products,read_customers"


@pytest.mark.parametrize(
    ("typed", "shop"),
    [
        ("acme", "acme.myshopify.com"),
        ("Acme-Store.myshopify.com", "acme-store.myshopify.com"),
        ("https://acme.myshopify.com/", "acme.myshopify.com"),
        ("http://acme.myshopify.com", "acme.myshopify.com"),
        ("  acme.myshopify.com ", "acme.myshopify.com"),
        ("acme.example.com", ""),
        ("127.0.0.1", ""),
        ("acme.myshopify.com.evil.example", ""),
        ("acme.myshopify.com/admin", ""),
        ("user@acme.myshopify.com", ""),
        ("-acme", ""),
        ("", ""),
    ],
)
def test_only_myshopify_domains_are_accepted_as_shops(typed, shop):
    assert oauth.valid_shop(typed) == shop


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"error": "invalid_grant"}, "invalid_grant"),
        ({"error": "invalid_client", "error_description": "bad"}, "invalid_client"),
        ({}, "HTTP 502"),
        ({"error": {"nested": True}}, "HTTP 502"),
    ],
)
def test_a_token_error_takes_the_providers_code(answer, expected):
    assert oauth._error_from(502, answer).code == expected


def test_a_form_encoded_token_answer_is_read():
    assert oauth._parse(b"access_token=abc&expires_in=60") == {
        "access_token": "abc",
        "expires_in": "60",
    }


def test_a_timestamp_expiry_is_read(settings):
    settings.OAUTH_PROVIDER_OVERRIDES = {}
    provider = oauth.provider_for("SQUARE")

    tokens = oauth._tokens_from(
        {
            "access_token": "sq-access",
            "expires_at": "2027-01-03T10:00:00Z",
            "merchant_id": "MERCHANT-1",
        },
        provider,
    )

    assert tokens.expires_at.isoformat() == "2027-01-03T10:00:00+00:00"
    assert tokens.tenant_id == "MERCHANT-1"


@pytest.mark.parametrize(
    "answer",
    [
        {"expires_in": 10**30},
        {"expires_in": -5},
        {"expires_in": "soon"},
        {"expires_in": True},
        {"expires_at": "not a date"},
        {"expires_at": "2027-02-30T10:00:00Z"},
    ],
)
def test_a_nonsense_expiry_is_treated_as_unknown(answer, settings):
    settings.OAUTH_PROVIDER_OVERRIDES = {}
    provider = oauth.provider_for("SQUARE")

    tokens = oauth._tokens_from({"access_token": "a", **answer}, provider)

    assert tokens.expires_at is None


def test_a_timestamp_without_a_zone_is_read_as_utc(settings):
    settings.OAUTH_PROVIDER_OVERRIDES = {}
    provider = oauth.provider_for("SQUARE")
    answer = {"access_token": "a", "expires_at": "2027-01-03T10:00:00"}

    tokens = oauth._tokens_from(answer, provider)

    assert tokens.expires_at.isoformat() == "2027-01-03T10:00:00+00:00"
