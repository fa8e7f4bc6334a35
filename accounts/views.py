from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.decorators import member_required
from accounts.middleware import ENVIRONMENT_SESSION_KEY
from rutterdash.environments import Environment


@member_required
def home(request):
    return render(request, "accounts/home.html", {"page": "home"})


@require_POST
@member_required
def switch_environment(request):
    chosen = request.POST.get("environment")
    if chosen not in Environment.values:
        return redirect("accounts:home")
    request.session[ENVIRONMENT_SESSION_KEY] = chosen

    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}):
        next_url = "accounts:home"
    return redirect(next_url)


@member_required
def settings_page(request):
    return render(request, "accounts/settings.html", {"page": "settings"})
