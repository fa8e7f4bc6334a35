"""Link's pages: what a business sees in the popup (or a link_url tab).

The pages are for anonymous businesses, so they carry no dashboard chrome;
every step loads the flow from the session (link.flow) and refuses to run
ahead of it: no sign-in before consent, no success before connecting.
"""

import logging
from functools import wraps

from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import Truncator
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connections import services as connection_services
from connections.models import Connection
from customize import services as customize_services
from link import flow as flows
from link import forms, services
from link.flow import load_flow
from link.headers import with_link_headers
from platforms import catalog
from rutterdash.api_errors import INVALID_REQUEST, ApiError
from rutterdash.scoping import Scope

log = logging.getLogger(__name__)


def link_page(view):
    """Headers every Link response carries, redirects included."""

    @wraps(view)
    def page(request, *args, **kwargs):
        return with_link_headers(view(request, *args, **kwargs))

    return page


def _refused(request, message, status=403, scope=None):
    context = {"message": message, **_branding(scope)}
    return render(request, "link/refused.html", context, status=status)


def _branding(scope):
    if scope is None:
        return {"title": "", "logo_url": None}
    return {
        "title": customize_services.landing_title(scope),
        "logo_url": customize_services.logo_url(scope),
        "organisation_name": scope.organisation.name,
    }


@link_page
@require_GET
def linkstart(request, public_key):
    scope = services.scope_for_public_key(public_key)
    if scope is None:
        return _refused(request, "This Link address is not valid.", status=404)

    start = forms.LinkStartForm(request.GET)
    if not start.is_valid():
        return _refused_start(request, start, scope)

    refusal = _origin_refusal(scope, start.cleaned_data, require_origin=True)
    if refusal:
        log.debug("Link refused for public key %s: %s", public_key[:16], refusal)
        return _refused(request, refusal, scope=scope)

    flow = flows.start_flow(request, scope, public_key=public_key, **start.cleaned_data)
    return redirect("link:landing", flow_id=flow.flow_id)


@link_page
@require_GET
def connection_start(request, connection_id):
    connection = Connection.objects.select_related("organisation")
    connection = connection.filter(pk=connection_id).first()
    if connection is None:
        return _refused(request, "This Link address is not valid.", status=404)

    scope = Scope(connection.organisation, connection.environment)
    start = forms.LinkStartForm(request.GET)
    if not start.is_valid():
        return _refused_start(request, start, scope)
    if connection.disabled:
        return _refused(request, DISABLED, status=409, scope=scope)
    refusal = _origin_refusal(scope, start.cleaned_data, require_origin=False)
    if refusal:
        return _refused(request, refusal, scope=scope)

    flow = _connection_flow(request, scope, connection, start.cleaned_data)
    # Consent was given when the connection was first authorised.
    if flow.consented:
        return redirect("link:sign_in", flow_id=flow.flow_id)
    return redirect("link:landing", flow_id=flow.flow_id)


def _connection_flow(request, scope, connection, details):
    details = dict(details)
    if connection.platform:
        details["platform"] = connection.platform
        details["unknown_platform"] = ""
    return flows.start_flow(
        request,
        scope,
        reauth_connection_id=str(connection.id),
        platform_locked=bool(connection.platform),
        consented=not services.awaiting_link(connection),
        **details,
    )


DISABLED = (
    "This connection has been disabled by the app that asked you to connect. "
    "Contact them to turn it back on."
)


def _refused_start(request, start, scope):
    # The app's developer finds the technical detail in the log.
    log.info("Link refused a start address: %s", start.errors.get_json_data())
    return _refused(request, start.refusal(), status=400, scope=scope)


def _origin_refusal(scope, details, require_origin):
    origin = details["origin"]
    redirect_url = details["redirect_url"]
    if origin and not services.origin_allowed(scope, origin):
        return (
            f"This link was opened from {origin}, a site the app that asked"
            " you to connect has not approved."
        )
    if redirect_url:
        target = services.origin_of(redirect_url)
        if not services.origin_allowed(scope, target):
            return (
                f"This link would send you back to {target}, a site the app"
                " that asked you to connect has not approved."
            )
    if require_origin and not origin and not scope.is_sandbox:
        return (
            "This link only works when opened from the app that asked you to connect."
        )
    return ""


@link_page
@require_http_methods(["GET", "POST"])
def landing(request, flow_id):
    flow = load_flow(request, flow_id)
    if flow.finished:
        return redirect("link:success", flow_id=flow.flow_id)
    if request.method == "POST":
        flow.consented = True
        flows.save_flow(request, flow)
        return redirect(_step_after_consent(flow), flow_id=flow.flow_id)

    context = {"flow": flow, **_branding(flow.scope)}
    return render(request, "link/landing.html", context)


def _step_after_consent(flow):
    if flow.platform and services.pickable(flow.scope, flow.platform):
        return "link:sign_in"
    return "link:picker"


@link_page
@require_http_methods(["GET", "POST"])
def picker(request, flow_id):
    flow = load_flow(request, flow_id)
    if flow.finished:
        return redirect("link:success", flow_id=flow.flow_id)
    if not flow.consented:
        return redirect("link:landing", flow_id=flow.flow_id)

    if request.method == "POST":
        return _pick(request, flow)
    return _show_picker(request, flow)


def _pick(request, flow):
    choice = forms.PlatformChoiceForm(request.POST)
    if not choice.is_valid():
        return HttpResponseBadRequest("Choose a platform.")

    platform = services.pickable(flow.scope, choice.cleaned_data["platform"])
    if flow.platform_locked and platform and platform.code != flow.platform:
        platform = None
    if platform is None:
        notice = "That platform is not available here. Choose another one."
        return _show_picker(request, flow, notice=notice, status=400)

    flow.platform = platform.code
    flows.save_flow(request, flow)
    return redirect("link:sign_in", flow_id=flow.flow_id)


def _show_picker(request, flow, notice="", status=200):
    search = forms.PlatformSearchForm(request.GET)
    query = search.cleaned_data["q"] if search.is_valid() else ""
    entries = services.picker_entries(flow.scope)
    matching = _matching(entries, query)

    chosen = flow.platform
    if chosen and not notice and not services.pickable(flow.scope, chosen):
        notice = _unavailable_notice(chosen)
    if flow.unknown_platform and not notice:
        notice = _unknown_notice(flow.unknown_platform)
    context = {
        "flow": flow,
        "search": search,
        "query": query,
        "entries": matching,
        "notice": notice,
        **_branding(flow.scope),
    }
    return render(request, "link/picker.html", context, status=status)


def _matching(entries, query):
    wanted = {platform.code for platform in catalog.search(query)} if query else None
    return [e for e in entries if wanted is None or e.platform.code in wanted]


def _unavailable_notice(code):
    return f"{_platform_name(code)} is not available here. Choose another platform."


def _unknown_notice(requested):
    name = Truncator(requested).chars(41)
    return f"We don't know the platform {name}. Choose one below."


def _platform_name(code):
    platform = catalog.get(code)
    return platform.name if platform else code


@link_page
@require_http_methods(["GET", "POST"])
def sign_in(request, flow_id):
    flow = load_flow(request, flow_id)
    if flow.finished:
        return redirect("link:success", flow_id=flow.flow_id)
    if not flow.consented:
        return redirect("link:landing", flow_id=flow.flow_id)
    platform = services.pickable(flow.scope, flow.platform)
    if platform is None and flow.platform_locked:
        message = f"{_platform_name(flow.platform)} cannot be connected here now."
        return _refused(request, message, status=409, scope=flow.scope)
    if platform is None:
        return redirect("link:picker", flow_id=flow.flow_id)

    if not flow.scope.is_sandbox:
        return _oauth_sign_in(request, flow, platform)
    if request.method == "POST":
        return _sandbox_sign_in(request, flow, platform)
    form = forms.SandboxSignInForm()
    return _show_sign_in(request, flow, platform, form)


def _sandbox_sign_in(request, flow, platform):
    form = forms.SandboxSignInForm(request.POST)
    if not form.is_valid():
        return _show_sign_in(request, flow, platform, form, status=400)

    data = form.cleaned_data
    try:
        needs_reauth = services.sandbox_sign_in(data["username"], data["password"])
    except services.LinkRefused as refusal:
        form.add_error(None, str(refusal))
        return _show_sign_in(request, flow, platform, form, status=400)

    on_connected = _mark_needs_reauth if needs_reauth else None
    return flows.complete_flow(
        request, flow, platform.code, data["store_name"], on_connected
    )


def _mark_needs_reauth(connection):
    connection_services.connection_needs_reauth(connection, services.REAUTH_REASON)


def _show_sign_in(request, flow, platform, form, status=200):
    error = flows.take_error(request, flow)
    if error:
        form.add_error(None, error)
    context = {
        "flow": flow,
        "platform": platform,
        "form": form,
        "focus_field": _first_field_to_fix(form),
        **_branding(flow.scope),
    }
    return render(request, "link/sign_in_sandbox.html", context, status=status)


def _first_field_to_fix(form):
    """The field the keyboard starts in: the first with an error, else the first."""
    with_errors = [field.name for field in form if field.errors]
    return with_errors[0] if with_errors else next(iter(form)).name


def _oauth_sign_in(request, flow, platform):
    if request.method == "POST":
        return HttpResponseBadRequest("Sign in through the platform's button.")

    context = {
        "flow": flow,
        "platform": platform,
        "error": flows.take_error(request, flow),
        "oauth_start_url": reverse("oauth:start", args=[flow.flow_id]),
        **_branding(flow.scope),
    }
    return render(request, "link/sign_in_oauth.html", context)


@link_page
@require_GET
def success(request, flow_id):
    flow = load_flow(request, flow_id)
    if not flow.finished:
        return redirect("link:landing", flow_id=flow.flow_id)

    public_token = _take_public_token(request, flow)
    back_url = message = None
    if public_token and flow.redirect_url:
        back_url = services.with_public_token(flow.redirect_url, public_token)
        if not flow.origin:
            return redirect(back_url)
    if public_token:
        message = _message(flow, "SUCCESS", publicToken=public_token)
    context = {
        "flow": flow,
        "platform": catalog.get(flow.platform),
        "message": message,
        "back_url": back_url,
        # Opened again after the token went out: nothing left to hand over.
        "reopened": public_token is None,
        **_branding(flow.scope),
    }
    return render(request, "link/success.html", context)


def _take_public_token(request, flow):
    """The flow's public token, handed out once and then forgotten."""
    public_token, flow.public_token = flow.public_token, None
    if public_token:
        flows.save_flow(request, flow)
    return public_token


@link_page
@require_POST
def cancel(request, flow_id):
    flow = load_flow(request, flow_id)
    flows.forget_flow(request, flow.flow_id)
    log.debug("Link flow %s cancelled by the business", flow.flow_id)

    context = {
        "flow": flow,
        "message": _message(flow, "EXIT"),
        "hide_cancel": True,
        **_branding(flow.scope),
    }
    return render(request, "link/cancelled.html", context)


def _message(flow, kind, **fields):
    """What the page posts to its opener, if the SDK opened it; else None."""
    if not flow.origin or not flow.nonce:
        return None
    body = {"type": kind, **fields, "nonce": flow.nonce}
    return {"target_origin": flow.origin, "body": body}


def websocket_auth(request):
    """The SDK asks for a realtime channel first; there is none, so it uses messages."""
    refusal = ApiError(
        404,
        INVALID_REQUEST,
        "NOT_FOUND",
        "Link answers through window messages; there is no realtime channel.",
    )
    return refusal.response()
