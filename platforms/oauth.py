"""OAuth 2 sign-in to the platforms that use it: endpoints, token calls, grants.

Each platform's authorisation server is described by a ``Provider``. The
setting ``OAUTH_PROVIDER_OVERRIDES`` (JSON, keyed by platform code) replaces
any of its fields, which is how tests point a platform at a fake provider on
loopback. The business's browser is sent to ``authorize_url``; the code that
comes back is exchanged here, server to server, for the tokens kept in a
``PlatformGrant``.
"""

import base64
import functools
import hashlib
import json
import logging
import re
import secrets
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import httpx
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from platforms import catalog
from platforms.models import PlatformGrant
from rutterdash import crypto

log = logging.getLogger(__name__)

BASIC = "basic"  # client id and secret in an HTTP Basic header
BODY = "body"  # client id and secret as fields of the token request
FORM = "form"
JSON = "json"

USER_AGENT = "Rutterdash-OAuth/1.0"
# A token response is a few hundred bytes; anything much larger is not one.
MAX_RESPONSE_BYTES = 64 * 1024
# A state (and its PKCE verifier) is good for this long after the redirect.
STATE_LIFETIME_SECONDS = 10 * 60
PENDING_KEY = "oauth_pending"
# Abandoned consent screens leave states behind; keep the session small.
MAX_PENDING_PER_SESSION = 10
# A lifetime beyond this is nonsense from the provider; treat it as unknown.
LONGEST_LIFETIME_SECONDS = 10 * 365 * 24 * 3600
# Renew an access token this long before it expires, so that a read started
# with it does not fail halfway.
REFRESH_MARGIN = timedelta(minutes=2)
SHOPIFY_SHOP = re.compile(r"[a-z0-9][a-z0-9-]{0,59}\.myshopify\.com")


@dataclass(frozen=True)
class Provider:
    authorize_url: str
    token_url: str
    scopes: tuple = ()
    scope_separator: str = " "
    pkce: bool = False
    client_auth: str = BASIC
    token_format: str = FORM
    authorize_params: dict = field(default_factory=dict)
    # Where the provider names the business that consented: a query
    # parameter of the callback, or a field of the token response.
    tenant_param: str = ""
    tenant_field: str = ""
    # Shopify's endpoints live on the shop's own domain ({shop} in the URLs).
    needs_shop: bool = False


def _provider(authorize_url, token_url, *scopes, **options):
    return Provider(authorize_url, token_url, tuple(scopes), **options)


PROVIDERS = {
    "QUICKBOOKS": _provider(
        "https://appcenter.intuit.com/connect/oauth2",
        "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
        "com.intuit.quickbooks.accounting",
        tenant_param="realmId",
    ),
    "XERO": _provider(
        "https://login.xero.com/identity/connect/authorize",
        "https://identity.xero.com/connect/token",
        "offline_access",
        "accounting.settings.read",
        "accounting.transactions.read",
        "accounting.contacts.read",
        "accounting.reports.read",
        pkce=True,
    ),
    "SAGE_BUSINESS_CLOUD": _provider(
        "https://www.sageone.com/oauth2/auth/central?filter=apiv3.1",
        "https://oauth.accounting.sage.com/token",
        "full_access",
        client_auth=BODY,
    ),
    "ZOHOBOOKS": _provider(
        "https://accounts.zoho.com/oauth/v2/auth",
        "https://accounts.zoho.com/oauth/v2/token",
        "ZohoBooks.fullaccess.all",
        scope_separator=",",
        client_auth=BODY,
        authorize_params={"access_type": "offline", "prompt": "consent"},
    ),
    "WAVE": _provider(
        "https://api.waveapps.com/oauth2/authorize/",
        "https://api.waveapps.com/oauth2/token/",
        "account:read",
        "business:read",
        "customer:read",
        "invoice:read",
        "product:read",
        "vendor:read",
        client_auth=BODY,
        tenant_field="businessId",
    ),
    "FRESHBOOKS": _provider(
        "https://auth.freshbooks.com/oauth/authorize",
        "https://api.freshbooks.com/auth/oauth/token",
        "user:profile:read",
        "user:clients:read",
        "user:invoices:read",
        "user:payments:read",
        "user:expenses:read",
        "user:bills:read",
        client_auth=BODY,
    ),
    "DYNAMICS365": _provider(
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        "https://api.businesscentral.dynamics.com/Financials.ReadWrite.All",
        "offline_access",
        pkce=True,
        client_auth=BODY,
    ),
    "EXACTONLINE": _provider(
        "https://start.exactonline.nl/api/oauth2/auth",
        "https://start.exactonline.nl/api/oauth2/token",
        client_auth=BODY,
    ),
    "FREEAGENT": _provider(
        "https://api.freeagent.com/v2/approve_app",
        "https://api.freeagent.com/v2/token_endpoint",
    ),
    "SHOPIFY": _provider(
        "https://{shop}/admin/oauth/authorize",
        "https://{shop}/admin/oauth/access_token",
        "read_orders",
        "read_products",
        "read_customers",
        scope_separator=",",
        client_auth=BODY,
        token_format=JSON,
        needs_shop=True,
    ),
    "AMAZON": _provider(
        "https://sellercentral.amazon.com/apps/authorize/consent",
        "https://api.amazon.com/auth/o2/token",
        client_auth=BODY,
        authorize_params={"version": "beta"},
        tenant_param="selling_partner_id",
    ),
    "BIG_COMMERCE": _provider(
        "https://login.bigcommerce.com/oauth2/authorize",
        "https://login.bigcommerce.com/oauth2/token",
        "store_v2_orders_read_only",
        "store_v2_products_read_only",
        "store_v2_customers_read_only",
        client_auth=BODY,
        token_format=JSON,
        tenant_param="context",
    ),
    "EBAY": _provider(
        "https://auth.ebay.com/oauth2/authorize",
        "https://api.ebay.com/identity/v1/oauth2/token",
        "https://api.ebay.com/oauth/api_scope",
        "https://api.ebay.com/oauth/api_scope/sell.fulfillment.readonly",
        "https://api.ebay.com/oauth/api_scope/sell.finances",
    ),
    "ETSY": _provider(
        "https://www.etsy.com/oauth/connect",
        "https://api.etsy.com/v3/public/oauth/token",
        "shops_r",
        "listings_r",
        "transactions_r",
        pkce=True,
        client_auth=BODY,
    ),
    "SQUARESPACE": _provider(
        "https://login.squarespace.com/api/1/login/oauth/provider/authorize",
        "https://login.squarespace.com/api/1/login/oauth/provider/tokens",
        "website.orders.read",
        "website.products.read",
        "website.transactions.read",
        scope_separator=",",
        token_format=JSON,
        authorize_params={"access_type": "offline"},
    ),
    "WIX": _provider(
        "https://www.wix.com/installer/install",
        "https://www.wixapis.com/oauth/access",
        client_auth=BODY,
        token_format=JSON,
    ),
    "WEBFLOW": _provider(
        "https://webflow.com/oauth/authorize",
        "https://api.webflow.com/oauth/access_token",
        "sites:read",
        "ecommerce:read",
        client_auth=BODY,
    ),
    "ECWID": _provider(
        "https://my.ecwid.com/api/oauth/authorize",
        "https://my.ecwid.com/api/oauth/token",
        "read_store_profile",
        "read_catalog",
        "read_orders",
        "read_customers",
        client_auth=BODY,
        tenant_field="store_id",
    ),
    "MERCADOLIBRE": _provider(
        "https://auth.mercadolibre.com/authorization",
        "https://api.mercadolibre.com/oauth/token",
        pkce=True,
        client_auth=BODY,
        tenant_field="user_id",
    ),
    "GUMROAD": _provider(
        "https://gumroad.com/oauth/authorize",
        "https://api.gumroad.com/oauth/token",
        "view_sales",
        client_auth=BODY,
    ),
    "STRIPE": _provider(
        "https://connect.stripe.com/oauth/authorize",
        "https://connect.stripe.com/oauth/token",
        "read_only",
        client_auth=BODY,
        tenant_field="stripe_user_id",
    ),
    "SQUARE": _provider(
        "https://connect.squareup.com/oauth2/authorize",
        "https://connect.squareup.com/oauth2/token",
        "MERCHANT_PROFILE_READ",
        "PAYMENTS_READ",
        "ORDERS_READ",
        "CUSTOMERS_READ",
        "ITEMS_READ",
        client_auth=BODY,
        token_format=JSON,
        authorize_params={"session": "false"},
        tenant_field="merchant_id",
    ),
    "PAYPAL": _provider(
        "https://www.paypal.com/signin/authorize",
        "https://api-m.paypal.com/v1/oauth2/token",
        "openid",
        "email",
        "https://uri.paypal.com/services/paypalattributes",
        authorize_params={"flowEntry": "static"},
    ),
    "MOLLIE": _provider(
        "https://my.mollie.com/oauth2/authorize",
        "https://api.mollie.com/oauth2/tokens",
        "organizations.read",
        "payments.read",
        "orders.read",
        "customers.read",
        "settlements.read",
        authorize_params={"approval_prompt": "auto"},
    ),
    "CLOVER": _provider(
        "https://www.clover.com/oauth/v2/authorize",
        "https://www.clover.com/oauth/v2/token",
        client_auth=BODY,
        token_format=JSON,
        tenant_param="merchant_id",
    ),
}


def uses_oauth(platform_code):
    platform = catalog.get(platform_code)
    return bool(platform and platform.uses_oauth)


def redirect_uri():
    """The one callback address every developer app must register."""
    return f"{settings.SITE_URL}{reverse('oauth:callback')}"


def provider_for(platform_code):
    """The platform's provider with any configured override applied."""
    platform = catalog.get(platform_code)
    provider = PROVIDERS.get(platform.code) if platform else None
    if provider is None:
        raise LookupError(f"{platform_code!r} does not sign in through OAuth.")

    overrides = settings.OAUTH_PROVIDER_OVERRIDES
    _refuse_unknown("platform codes", overrides, PROVIDERS, "")
    override = overrides.get(platform.code) or {}
    names = {f.name for f in fields(Provider)}
    _refuse_unknown("keys", override, names, f"[{platform.code!r}]")
    if "scopes" in override:
        override = {**override, "scopes": tuple(override["scopes"])}
    return replace(provider, **override)


def _refuse_unknown(what, given, known, where):
    unknown = set(given) - set(known)
    if unknown:
        listed = ", ".join(sorted(unknown))
        raise ImproperlyConfigured(
            f"OAUTH_PROVIDER_OVERRIDES{where} has unknown {what}: {listed}"
        )


def valid_shop(text):
    """The shop's myshopify.com domain from what a business typed, or ''."""
    shop = text.strip().lower().removesuffix("/")
    shop = shop.removeprefix("https://").removeprefix("http://")
    if "." not in shop:
        shop = f"{shop}.myshopify.com"
    return shop if SHOPIFY_SHOP.fullmatch(shop) else ""


# The consent redirect ------------------------------------------------------


@dataclass
class Pending:
    """A redirect to a consent screen, waiting in the session for its callback."""

    state: str
    flow_id: str
    platform: str
    verifier: str = ""
    shop: str = ""
    expires_at: float = 0.0

    @property
    def expired(self):
        return time.time() > self.expires_at


def pending_start(session, flow_id, platform_code, provider, shop=""):
    pending = Pending(
        state=secrets.token_urlsafe(32),
        flow_id=flow_id,
        platform=platform_code,
        verifier=secrets.token_urlsafe(48) if provider.pkce else "",
        shop=shop,
        expires_at=time.time() + STATE_LIFETIME_SECONDS,
    )
    waiting = dict(session.get(PENDING_KEY, {}))
    waiting[pending.state] = asdict(pending)
    newest = sorted(waiting.items(), key=lambda item: item[1]["expires_at"])
    session[PENDING_KEY] = dict(newest[-MAX_PENDING_PER_SESSION:])
    return pending


class StateInUse(Exception):
    """Another request already took this state: a reload during the exchange."""

    def __init__(self, flow_id):
        super().__init__(flow_id)
        self.flow_id = flow_id


def pending_take(session, state):
    """The session's pending redirect for ``state``, removed so it works once.

    A claim in the shared cache makes that hold for concurrent requests too:
    a reload while the first request still runs raises StateInUse without
    touching the session, so its stale copy cannot overwrite the outcome.
    """
    waiting = dict(session.get(PENDING_KEY, {}))
    stored = waiting.get(state) if state else None
    if stored is None:
        return None
    claim = f"oauth-state:{crypto.keyed_hash(state)}"
    if not cache.add(claim, True, STATE_LIFETIME_SECONDS):
        raise StateInUse(stored["flow_id"])

    del waiting[state]
    session[PENDING_KEY] = waiting
    return Pending(**stored)


def code_challenge(verifier):
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def authorize_url(provider, client_id, pending):
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri(),
        "response_type": "code",
        "state": pending.state,
    }
    if provider.scopes:
        params["scope"] = provider.scope_separator.join(provider.scopes)
    if pending.verifier:
        params["code_challenge"] = code_challenge(pending.verifier)
        params["code_challenge_method"] = "S256"
    params.update(provider.authorize_params)

    base = provider.authorize_url.replace("{shop}", pending.shop)
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{urlencode(params)}"


# Token calls ---------------------------------------------------------------


class TokenError(Exception):
    """The provider did not hand out tokens; ``code`` says why, for the reader."""

    def __init__(self, code, detail=""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail

    @property
    def revoked(self):
        return self.code == "invalid_grant"

    def explain(self, platform_name):
        """A sentence for the business in Link."""
        if self.revoked:
            return (
                f"The sign-in code from {platform_name} expired or was already "
                "used. Please sign in again."
            )
        if self.code == "invalid_client":
            return (
                f"{platform_name} did not accept this app's credentials, so the "
                "connection could not be made. Please let the app's team know."
            )
        if self.code == "timeout":
            return (
                f"{platform_name} took too long to answer. Please try again "
                "in a moment."
            )
        if self.code == "unreachable":
            return f"{platform_name} could not be reached. Please try again soon."
        if self.code == "unreadable_response":
            return (
                f"{platform_name} sent an answer that could not be read. "
                "Please try again in a moment."
            )
        return (
            f"{platform_name} could not finish the sign-in ({self.code}). "
            "Please try again in a moment."
        )


@dataclass
class Tokens:
    access_token: str
    refresh_token: str = ""
    expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    scopes: str = ""
    tenant_id: str = ""


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str


def exchange_code(provider, credentials, code, pending, tenant_id=""):
    """Swap an authorisation code for tokens (RFC 6749 4.1.3)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri(),
    }
    if pending.verifier:
        form["code_verifier"] = pending.verifier
    if provider.tenant_param == "context" and tenant_id:
        form["context"] = tenant_id  # BigCommerce wants the store back.

    token_url = provider.token_url.replace("{shop}", pending.shop)
    answer = _token_request(provider, token_url, credentials, form)
    tokens = _tokens_from(answer, provider)
    # A Shopify grant is for one shop, whose domain its refresh goes to.
    tokens.tenant_id = pending.shop or tokens.tenant_id or tenant_id
    return tokens


def _token_request(provider, token_url, credentials, form):
    """POST to the token endpoint and return its JSON answer, or raise TokenError."""
    auth = None
    if provider.client_auth == BASIC:
        auth = (credentials.client_id, credentials.client_secret)
    else:
        form = {
            **form,
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
        }
    body = {"json": form} if provider.token_format == JSON else {"data": form}

    try:
        status, content = _post(token_url, auth, body)
    except httpx.TimeoutException:
        raise TokenError("timeout") from None
    except httpx.HTTPError as error:
        raise TokenError("unreachable", type(error).__name__) from None

    answer = _parse(content)
    if not 200 <= status < 300:
        raise _error_from(status, answer)
    if not isinstance(answer.get("access_token"), str) or not answer["access_token"]:
        raise TokenError("unreadable_response", f"HTTP {status}, no access_token")
    return answer


def _post(url, auth, body):
    """POST without following redirects; the whole call, a trickling answer
    included, is given OAUTH_HTTP_TIMEOUT seconds and MAX_RESPONSE_BYTES."""
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    limit = settings.OAUTH_HTTP_TIMEOUT
    deadline = time.monotonic() + limit
    options = {"auth": auth, "headers": headers, "timeout": limit, **body}
    with _client().stream("POST", url, **options) as reply:
        content = bytearray()
        for chunk in reply.iter_bytes():
            content += chunk
            if len(content) > MAX_RESPONSE_BYTES:
                raise TokenError("unreadable_response", "answer too large")
            if time.monotonic() > deadline:
                raise TokenError("timeout")
        return reply.status_code, bytes(content)


@functools.cache
def _client():
    # One client per process: building one loads the CA bundle (tens of
    # milliseconds), and its pool keeps connections to providers warm.
    return httpx.Client(follow_redirects=False)


def _parse(content):
    """A token endpoint's answer as a dict: JSON, or form-encoded as some send."""
    try:
        answer = json.loads(content)
    except ValueError:
        answer = dict(parse_qsl(content.decode("utf-8", "replace")))
    return answer if isinstance(answer, dict) else {}


def _error_from(status, answer):
    error = answer.get("error")
    code = error if isinstance(error, str) and error else f"HTTP {status}"
    description = answer.get("error_description")
    detail = description[:200] if isinstance(description, str) else ""
    return TokenError(code[:60], detail)


def _tokens_from(answer, provider):
    now = timezone.now()
    scope = answer.get("scope", "")
    tenant = answer.get(provider.tenant_field) if provider.tenant_field else ""
    return Tokens(
        access_token=answer["access_token"],
        refresh_token=str(answer.get("refresh_token") or ""),
        # Square sends a timestamp where the others send a lifetime.
        expires_at=_after(answer.get("expires_in"), now)
        or _moment(answer.get("expires_at")),
        # QuickBooks names the refresh token's lifetime with an x_ prefix.
        refresh_expires_at=_after(answer.get("x_refresh_token_expires_in"), now)
        or _after(answer.get("refresh_token_expires_in"), now)
        or _moment(answer.get("refresh_token_expires_at")),
        scopes=" ".join(scope) if isinstance(scope, list) else str(scope)[:1000],
        tenant_id=str(tenant or "")[:200],
    )


def _after(seconds, now):
    if isinstance(seconds, str) and seconds.isdigit():
        seconds = int(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        return None
    if not 0 < seconds <= LONGEST_LIFETIME_SECONDS:
        return None
    return now + timedelta(seconds=seconds)


def _moment(text):
    if not isinstance(text, str):
        return None
    try:
        moment = parse_datetime(text)
    except ValueError:
        return None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment


# Grants --------------------------------------------------------------------


def grant_save(connection, tokens):
    """Store (or replace, on re-authorisation) the connection's grant."""
    grant = PlatformGrant.objects.filter(connection=connection).first()
    grant = grant or PlatformGrant(connection=connection)
    refresh_token = tokens.refresh_token or grant.refresh_token()
    grant.set_tokens(tokens.access_token, refresh_token)
    grant.access_token_expires_at = tokens.expires_at
    grant.refresh_token_expires_at = tokens.refresh_expires_at
    grant.scopes = tokens.scopes
    grant.tenant_id = tokens.tenant_id or grant.tenant_id
    grant.save()
    log.info(
        "Stored %s grant for connection %s (tenant %s)",
        connection.platform,
        connection.id,
        grant.tenant_id or "-",
    )
    return grant


def credentials_for(scope, platform_code):
    """The developer app's credentials saved for this scope, or None."""
    from platforms.services import setting_for

    setting = setting_for(scope, platform_code)
    if setting is None or not setting.has_credentials:
        return None
    return Credentials(setting.client_id, setting.client_secret())


def access_token_for(grant):
    """The grant's access token, renewed first when it is about to expire."""
    expires_at = grant.access_token_expires_at
    if expires_at is not None and expires_at - REFRESH_MARGIN <= timezone.now():
        grant = refresh_grant(grant)
    return grant.access_token()


def refresh_grant(grant):
    """Renew the grant's access token with its refresh token.

    A provider that rotates refresh tokens hands out a new one each time,
    and the old one stops working: the grant row stays locked during the
    call so two workers never spend the same refresh token. When the
    provider answers invalid_grant the business has revoked access (or the
    refresh token lapsed), so the connection is flagged for
    re-authorisation. Raises TokenError whenever no new token was stored.
    """
    from connections.services import connection_needs_reauth

    connection = grant.connection
    try:
        with transaction.atomic():
            grant = _refresh_locked(grant)
    except TokenError as error:
        log.warning(
            "Refreshing the %s grant of connection %s failed: %s",
            connection.platform,
            connection.id,
            error.code,
        )
        if error.revoked:
            platform_name = connection.platform_name
            reason = f"{platform_name} no longer accepts this connection's sign-in."
            connection_needs_reauth(connection, reason)
        raise
    log.info(
        "Refreshed the %s grant of connection %s", connection.platform, connection.id
    )
    return grant


def _refresh_locked(grant):
    seen_refresh_token = grant.refresh_token_encrypted
    grant = PlatformGrant.objects.select_for_update().get(pk=grant.pk)
    if grant.refresh_token_encrypted != seen_refresh_token:
        return grant  # Another worker refreshed it while this one waited.

    connection = grant.connection
    refresh_token = grant.refresh_token()
    if not refresh_token:
        raise TokenError("no_refresh_token")
    credentials = credentials_for(_scope_of(connection), connection.platform)
    if credentials is None:
        raise TokenError("missing_credentials")

    provider = provider_for(connection.platform)
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    token_url = provider.token_url.replace("{shop}", grant.tenant_id)
    answer = _token_request(provider, token_url, credentials, form)
    tokens = _tokens_from(answer, provider)

    grant.set_tokens(tokens.access_token, tokens.refresh_token or refresh_token)
    grant.access_token_expires_at = tokens.expires_at
    if tokens.refresh_expires_at:
        grant.refresh_token_expires_at = tokens.refresh_expires_at
    grant.scopes = tokens.scopes or grant.scopes
    grant.refreshed_at = timezone.now()
    grant.save()
    return grant


def _scope_of(connection):
    from rutterdash.scoping import Scope

    return Scope(connection.organisation, connection.environment)
