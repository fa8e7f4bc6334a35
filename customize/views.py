from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import condition, require_POST, require_safe

from accounts.decorators import member_required
from customize import logos, services
from customize.forms import LinkSettingsForm
from customize.uploads import UploadSizeLimit
from platforms.forms import ConfirmForm
from platforms.services import platform_states

# Link asks for the logo with its version in the query, so that URL may be
# cached for a long time; a bare URL is revalidated with the ETag each time.
VERSIONED_MAX_AGE = 60 * 60 * 24 * 365


@member_required
def index(request):
    settings = services.link_settings(request.scope)
    states = platform_states(request.scope)
    form = LinkSettingsForm(
        scope=request.scope,
        platform_states=states,
        initial=_initial(settings, states),
    )
    return _render(request, settings, form)


@xframe_options_sameorigin
@member_required
def preview(request):
    """Link's first step as saved, for the frame beside the Customize form."""
    scope = request.scope
    context = {
        "title": services.landing_title(scope),
        "logo_url": services.logo_url(scope),
        "sandbox": scope.is_sandbox,
    }
    return render(request, "customize/preview.html", context)


def _initial(settings, states):
    hidden = set(settings.hidden_platforms)
    return {
        "show_title": settings.show_title,
        "title": settings.title,
        "shown_platforms": [
            state.platform.code
            for state in states
            if state.enabled and state.platform.code not in hidden
        ],
        "allowed_origins": "\n".join(settings.allowed_origins),
    }


def _render(request, settings, form, status=200):
    scope = request.scope
    context = {
        "page": "customize",
        "form": form,
        "link_settings": settings,
        "logo_url": services.logo_url(scope),
        "organisation_name": scope.organisation.name,
        "environment_form": ConfirmForm(scope=scope, auto_id=False),
        "disabled_count": _disabled_count(form),
    }
    return render(request, "customize/index.html", context, status=status)


def _disabled_count(form):
    return len(form.platform_states) - len(form.offerable)


@require_POST
@member_required
@csrf_exempt
def save(request):
    # The size limit must be in place before anything reads the body, and
    # the CSRF check reads it, so the check runs inside, after the limit.
    request.upload_handlers.insert(0, UploadSizeLimit(request, logos.MAX_BYTES))
    return _save(request)


@csrf_protect
def _save(request):
    scope = request.scope
    settings = services.link_settings(scope)
    form = LinkSettingsForm(
        request.POST,
        request.FILES,
        scope=scope,
        platform_states=platform_states(scope),
        upload_too_large=request.upload_too_large,
    )
    if form.has_error("environment", code="switched"):
        messages.error(request, form.errors["environment"][0])
        return redirect("customize:index")
    if form.has_error("environment"):
        return HttpResponseBadRequest("The form lacks its environment.")
    if not form.is_valid():
        return _render(request, settings, form, status=400)

    _apply(scope, settings, form)
    messages.success(request, _saved_message(scope, form))
    return redirect("customize:index")


def _apply(scope, settings, form):
    data = form.cleaned_data
    services.link_settings_save(
        scope,
        show_title=data["show_title"],
        title=data["title"],
        hidden_platforms=form.hidden_platforms(settings.hidden_platforms),
        allowed_origins=data.get("allowed_origins", settings.allowed_origins),
        logo_png=data["logo"],
    )


def _saved_message(scope, form):
    where = "sandbox" if scope.is_sandbox else "production"
    logo = " and the new logo" if form.cleaned_data["logo"] else ""
    return f"Saved Link's {where} settings{logo}."


@require_POST
@member_required
def logo_remove(request):
    form = ConfirmForm(request.POST, scope=request.scope)
    if form.has_error("environment", code="switched"):
        messages.error(request, form.errors["environment"][0])
        return redirect("customize:index")
    if not form.is_valid():
        return HttpResponseBadRequest("The form lacks its environment.")

    if services.logo_remove(request.scope):
        messages.success(request, "Removed the logo. Link shows no logo now.")
    else:
        messages.info(request, "There was no logo to remove.")
    return redirect("customize:index")


def _logo_etag(request, public_key):
    request.logo = services.logo_for_public_key(public_key)
    return request.logo[1] if request.logo else None


@require_safe
@condition(etag_func=_logo_etag)
def logo(request, public_key):
    if request.logo is None:
        raise Http404("No logo here.")

    png, _etag, version = request.logo
    response = HttpResponse(png, content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    if request.GET.get("v") == version:
        patch_cache_control(response, public=True, max_age=VERSIONED_MAX_AGE)
        patch_cache_control(response, immutable=True)
    else:
        patch_cache_control(response, public=True, no_cache=True)
    return response
