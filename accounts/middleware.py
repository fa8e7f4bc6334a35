import logging

from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve

from accounts.elsewhere import InOtherEnvironment, openable_page
from rutterdash.environments import Environment
from rutterdash.scoping import Scope

log = logging.getLogger(__name__)

ENVIRONMENT_SESSION_KEY = "environment"
# Pages a signed-in person with no organisation may still open.
TEAMLESS_PAGES = {"invite", "logout", "signup", "no_team"}


def current_environment(request):
    chosen = request.session.get(ENVIRONMENT_SESSION_KEY)
    return chosen if chosen in Environment.values else Environment.PRODUCTION


class DashboardContextMiddleware:
    """Attach the signed-in member's organisation and environment.

    Membership is looked up on every request, so someone removed from the
    team loses access at their next click rather than when a session expires.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        request.scope = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            request.membership = (
                user.memberships.select_related("organisation").order_by("pk").first()
            )
            if request.membership is None and not _may_pass_without_team(request):
                log.debug("User %s has no organisation; sent to no_team", user.pk)
                return redirect("accounts:no_team")
        if request.membership is not None:
            request.scope = Scope(
                request.membership.organisation, current_environment(request)
            )
        return self.get_response(request)


def _may_pass_without_team(request):
    # Middleware runs before URL resolution, so resolve the path here.
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.url_name in TEAMLESS_PAGES


class FriendlyRefusalMiddleware:
    """Dashboard pages for refusals that Django answers with a bare body.

    A 405 (an address that only takes a form's POST, opened again or
    reloaded) gets a page with the sidebar, and an object found in the
    organisation's other environment gets a page offering the switch.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 405 and not response.content:
            log.info("%s %s is not allowed here", request.method, request.path)
            page = render(request, "405.html", status=405)
            page["Allow"] = response.get("Allow", "")
            return page
        return response

    def process_exception(self, request, exception):
        if not isinstance(exception, InOtherEnvironment):
            return None
        context = {
            "noun": exception.noun,
            "environment": exception.environment,
            "environment_label": Environment(exception.environment).label,
            "next": request.get_full_path()
            if request.method == "GET"
            else openable_page(request.path),
        }
        return render(request, "elsewhere.html", context, status=404)
