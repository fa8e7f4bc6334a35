"""Link's production sign-in: send the business to the platform's consent
screen, then turn the code it brings back into a connection."""

import logging
from functools import partial

from django import forms
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from link.flow import complete_flow, fail_flow, load_flow
from link.services import pickable
from link.views import link_page
from platforms import catalog, oauth
from platforms.models import PlatformGrant

log = logging.getLogger(__name__)

TOOK_TOO_LONG = "The sign-in took too long. Please try again."
UNKNOWN_STATE = (
    "This sign-in was already used, was started in another browser, or has "
    "expired, so nothing was connected."
)
NOT_OAUTH = "This platform does not sign in through its own site."


class ShopForm(forms.Form):
    shop = forms.CharField(
        label="Your Shopify store address",
        max_length=100,
        help_text="For example acme-store.myshopify.com",
    )

    def clean_shop(self):
        shop = oauth.valid_shop(self.cleaned_data["shop"])
        if not shop:
            raise forms.ValidationError(
                "Enter your store's myshopify.com address, "
                "such as acme-store.myshopify.com."
            )
        return shop


@link_page
@require_POST
def start(request, flow_id):
    flow = load_flow(request, flow_id)
    out_of_order = _out_of_order(request, flow)
    if out_of_order:
        return out_of_order

    platform = catalog.get(flow.platform)
    credentials = oauth.credentials_for(flow.scope, platform.code)
    if credentials is None or not pickable(flow.scope, platform.code):
        return fail_flow(request, flow, _not_available(flow, platform))

    provider = oauth.provider_for(platform.code)
    shop = ""
    if provider.needs_shop:
        form = ShopForm(request.POST if "shop" in request.POST else None)
        if not form.is_valid():
            return _ask_for_shop(request, flow, platform, form)
        shop = form.cleaned_data["shop"]

    pending = oauth.pending_start(
        request.session, flow.flow_id, platform.code, provider, shop
    )
    log.info(
        "Sending Link flow %s to %s consent (organisation %s)",
        flow.flow_id,
        platform.code,
        flow.scope.organisation.pk,
    )
    return redirect(oauth.authorize_url(provider, credentials.client_id, pending))


def _out_of_order(request, flow):
    """Where a flow goes instead when it is not at an OAuth sign-in step."""
    if flow.finished:
        return redirect("link:success", flow_id=flow.flow_id)
    if not flow.consented:
        return redirect("link:landing", flow_id=flow.flow_id)
    if not oauth.uses_oauth(flow.platform):
        return _refused(request, NOT_OAUTH)
    return None


@link_page
@require_GET
def callback(request):
    try:
        pending = oauth.pending_take(request.session, request.GET.get("state", ""))
    except oauth.StateInUse as in_use:
        # A reload while the first request finishes: follow that one.
        return redirect("link:success", flow_id=in_use.flow_id)
    if pending is None:
        log.debug("OAuth callback with an unknown or spent state")
        return _refused(request, UNKNOWN_STATE)

    flow = load_flow(request, pending.flow_id)
    if flow.finished:  # Consent given twice, in two tabs: one connection.
        return redirect("link:success", flow_id=flow.flow_id)
    platform = catalog.get(pending.platform)
    if pending.expired:
        return fail_flow(request, flow, TOOK_TOO_LONG)
    if "error" in request.GET:
        refusal = _refusal(flow, platform, request.GET["error"])
        return fail_flow(request, flow, refusal)
    if not request.GET.get("code"):
        return fail_flow(request, flow, _no_code(platform))
    return _exchange(request, flow, platform, pending)


def _exchange(request, flow, platform, pending):
    """Swap the callback's code for tokens and connect, or say why not."""
    credentials = oauth.credentials_for(flow.scope, platform.code)
    if credentials is None:
        return fail_flow(request, flow, _not_available(flow, platform))
    provider = oauth.provider_for(platform.code)
    code = request.GET["code"]
    tenant_id = request.GET.get(provider.tenant_param, "")[:200]
    try:
        tokens = oauth.exchange_code(provider, credentials, code, pending, tenant_id)
    except oauth.TokenError as error:
        _log_exchange_failure(flow, platform, error)
        return fail_flow(request, flow, error.explain(platform.name))

    if _other_tenant(flow, tokens):
        return fail_flow(request, flow, _other_tenant_message(platform))
    store_name = pending.shop or platform.name
    save_grant = partial(oauth.grant_save, tokens=tokens)
    return complete_flow(
        request, flow, platform.code, store_name, on_connected=save_grant
    )


def _ask_for_shop(request, flow, platform, form):
    context = {"form": form, "flow": flow, "platform": platform}
    context.update(_branding(flow.scope))
    status = 400 if form.is_bound else 200
    return render(request, "oauth/shop.html", context, status=status)


def _refused(request, message):
    context = {"message": message, "title": "", "logo_url": None}
    return render(request, "link/refused.html", context, status=400)


def _branding(scope):
    from customize.services import landing_title, logo_url

    return {"title": landing_title(scope), "logo_url": logo_url(scope)}


def _other_tenant(flow, tokens):
    """A re-authorisation that signed in to a different business."""
    if not flow.reauth_connection_id or not tokens.tenant_id:
        return False
    grant = PlatformGrant.objects.filter(
        connection_id=flow.reauth_connection_id
    ).first()
    return bool(grant and grant.tenant_id and grant.tenant_id != tokens.tenant_id)


def _log_exchange_failure(flow, platform, error):
    log.warning(
        "Token exchange with %s failed for Link flow %s (organisation %s): %s",
        platform.code,
        flow.flow_id,
        flow.scope.organisation.pk,
        error,
    )


def _not_available(flow, platform):
    message = f"{platform.name} is not available here yet."
    if flow.reauth_connection_id:
        return message
    return f"{message} Please choose another platform."


def _refusal(flow, platform, error):
    if error == "access_denied":
        return (
            f"You declined access on {platform.name}, so nothing was connected. "
            "To connect, sign in again and allow access."
        )
    log.warning(
        "%s ended the consent for Link flow %s with error %r",
        platform.code,
        flow.flow_id,
        error[:60],
    )
    return f"{platform.name} stopped the sign-in. Please try again."


def _no_code(platform):
    return f"{platform.name} did not complete the sign-in. Please try again."


def _other_tenant_message(platform):
    return (
        f"You signed in to a different {platform.name} company than the one "
        "this connection reads. Sign in to the same company to reconnect it."
    )
