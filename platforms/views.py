from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.decorators import member_required
from platforms import catalog, forms, services
from platforms.oauth import redirect_uri


def _platform_or_404(code):
    platform = catalog.get(code)
    if platform is None:
        raise Http404("No such platform.")
    return platform


def _detail_url(platform):
    return reverse("platforms:detail", args=[platform.code.lower()])


@member_required
def index(request):
    search = forms.PlatformSearchForm(request.GET)
    query = search.cleaned_data["q"] if search.is_valid() else ""

    states = services.platform_states(request.scope)
    needing = [state for state in states if state.enabled and state.needs_credentials]
    if query:
        states = services.matching(states, query)

    groups = [
        (category, [s for s in states if s.platform.category == category])
        for category in catalog.CATEGORIES
    ]
    context = {
        "page": "platforms",
        "search": search,
        "query": query,
        "groups": [group for group in groups if group[1]],
        "redirect_uri": redirect_uri(),
        "needing_credentials": len(needing),
        "environment_form": forms.ConfirmForm(scope=request.scope, auto_id=False),
    }
    return render(request, "platforms/index.html", context)


@member_required
def detail(request, code):
    platform = _platform_or_404(code)
    state = services.platform_state(request.scope, platform.code)
    form = forms.CredentialsForm(
        scope=request.scope,
        has_secret=state.has_credentials,
        initial={"client_id": state.setting.client_id if state.setting else ""},
    )
    return _render_detail(request, state, form)


def _render_detail(request, state, form, status=200):
    context = {
        "page": "platforms",
        "state": state,
        "form": form,
        "environment_form": forms.ConfirmForm(scope=request.scope, auto_id=False),
        "redirect_uri": redirect_uri(),
    }
    return render(request, "platforms/detail.html", context, status=status)


def _switched(form):
    return form.has_error("environment", code="switched")


def _refuse_switched(request, form, url):
    """Say why nothing changed after the other tab switched environments."""
    messages.error(request, form.errors["environment"][0])
    return redirect(url)


@require_POST
@member_required
def toggle(request, code):
    platform = _platform_or_404(code)
    form = forms.PlatformToggleForm(request.POST, scope=request.scope)
    if _switched(form):
        return _refuse_switched(request, form, _back(request, platform))
    if not form.is_valid():
        return HttpResponseBadRequest("Say whether to enable or disable.")

    enabled = form.cleaned_data["enabled"]
    services.platform_enable(request.scope, platform.code, enabled)
    verb = "enabled" if enabled else "disabled"
    messages.success(request, f"{platform.name} is {verb} in {_env_name(request)}.")
    return redirect(_back(request, platform))


@require_POST
@member_required
def credentials_save(request, code):
    platform = _platform_or_404(code)
    if not platform.uses_oauth or request.scope.is_sandbox:
        return HttpResponseBadRequest("This platform takes no developer credentials.")
    state = services.platform_state(request.scope, platform.code)
    form = forms.CredentialsForm(
        request.POST, scope=request.scope, has_secret=state.has_credentials
    )
    if _switched(form):
        return _refuse_switched(request, form, _detail_url(platform))
    if form.has_error("environment"):
        return HttpResponseBadRequest("The form lacks its environment.")
    if not form.is_valid():
        return _render_detail(request, state, form, status=400)

    services.credentials_save(
        request.scope,
        platform.code,
        form.cleaned_data["client_id"],
        form.cleaned_data["client_secret"],
    )
    messages.success(request, f"Saved the {platform.name} credentials.")
    return redirect(_detail_url(platform))


@require_POST
@member_required
def credentials_remove(request, code):
    platform = _platform_or_404(code)
    form = forms.ConfirmForm(request.POST, scope=request.scope)
    if _switched(form):
        return _refuse_switched(request, form, _detail_url(platform))
    if not form.is_valid():
        return HttpResponseBadRequest("The form lacks its environment.")

    if services.credentials_remove(request.scope, platform.code):
        messages.success(
            request,
            f"Removed the {platform.name} credentials. Businesses cannot connect"
            f" {platform.name} in production until new ones are saved.",
        )
    else:
        messages.info(request, f"{platform.name} had no credentials to remove.")
    return redirect(_detail_url(platform))


def _env_name(request):
    return "sandbox" if request.scope.is_sandbox else "production"


def _back(request, platform):
    """Back to the list (keeping its search) or to the platform's page."""
    if request.POST.get("back") == "detail":
        return _detail_url(platform)
    url = reverse("platforms:index")
    search = forms.PlatformSearchForm(request.POST)
    if search.is_valid() and search.cleaned_data["q"]:
        url += "?" + urlencode({"q": search.cleaned_data["q"]})
    return f"{url}#platform-{platform.code.lower()}"
