from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services
from accounts.decorators import admin_required, member_required
from accounts.elsewhere import answers_get
from accounts.forms import (
    EnvironmentForm,
    InviteForm,
    NewAccountForm,
    OrganisationForm,
    ProfileForm,
    RotateSecretForm,
    SignUpForm,
)
from accounts.middleware import ENVIRONMENT_SESSION_KEY
from accounts.models import Invite, Membership, Organisation
from rutterdash.environments import Environment
from rutterdash.scoping import Scope

# Secrets and invite links are shown once: they wait in the session until
# the next page that displays them, then they are gone.
NEW_SECRETS_SESSION_KEY = "new_secrets"
NEW_INVITE_SESSION_KEY = "new_invite_link"
INVITE_GONE_STATUS = {
    "unknown": 404,
    "used": 410,
    "revoked": 410,
    "expired": 410,
}


@never_cache
@member_required
def home(request):
    api_key, created_secret = services.api_key_for(request.scope)
    secret = created_secret or _pop_new_secret(request, api_key.environment)

    rotate_form = RotateSecretForm(initial={"environment": api_key.environment})
    context = {
        "page": "home",
        "api_key": api_key,
        "secret": secret,
        "secrets_waiting": _waiting_environments(request),
        "api_base": request.build_absolute_uri("/versioned"),
        "rotate_form": rotate_form,
    }
    return render(request, "accounts/home.html", context)


@require_POST
@admin_required
def rotate_secret(request):
    form = RotateSecretForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Unknown environment.")

    environment = form.cleaned_data["environment"]
    scope = Scope(request.membership.organisation, environment)
    api_key, _secret = services.api_key_for(scope)
    secret = services.api_key_rotate_secret(api_key)

    _keep_new_secret(request, environment, secret)
    request.session[ENVIRONMENT_SESSION_KEY] = environment
    messages.success(request, "The client secret was replaced. Copy it now.")
    return redirect("accounts:home")


@require_POST
@member_required
def switch_environment(request):
    form = EnvironmentForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Unknown environment.")

    request.session[ENVIRONMENT_SESSION_KEY] = form.cleaned_data["environment"]
    next_url = form.cleaned_data["next"]
    if not _is_safe(request, next_url):
        next_url = "accounts:home"
    if form.cleaned_data["open_object"]:
        return redirect(next_url)
    return redirect(_same_page_in_any_environment(next_url))


def _same_page_in_any_environment(url):
    """Where the switch lands: the same page, if it can be opened again.

    A page about one object exists in one environment only, and a form's
    error page was drawn by a POST-only address: both go to their section's
    index, or Home when the section has none.
    """
    path = urlsplit(url).path
    try:
        match = resolve(path)
    except Resolver404:
        return url
    if not match.kwargs and answers_get(match.func):
        return url
    section = path.strip("/").split("/", 1)[0]
    index = f"/{section}/"
    try:
        section_match = resolve(index)
    except Resolver404:
        return reverse("accounts:home")
    if section_match.kwargs or not answers_get(section_match.func):
        return reverse("accounts:home")
    return index


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.membership is not None:
        return redirect("accounts:home")

    form = SignUpForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        return render(request, "accounts/signup.html", {"form": form})

    fields = form.cleaned_data
    try:
        user, secrets = services.sign_up(
            fields["name"],
            fields["email"],
            fields["password"],
            fields["organisation_name"],
        )
    except services.EmailTaken:
        form.add_error("email", "An account with this email already exists.")
        return render(request, "accounts/signup.html", {"form": form})

    login(request, user)
    # A new organisation starts in sandbox, where the first curl works.
    request.session[ENVIRONMENT_SESSION_KEY] = Environment.SANDBOX
    request.session[NEW_SECRETS_SESSION_KEY] = secrets
    return redirect("accounts:home")


@login_required
@require_http_methods(["GET", "POST"])
def no_team(request):
    """Someone signed in who belongs to no organisation (e.g. was removed)."""
    if request.membership is not None:
        return redirect("accounts:home")

    form = OrganisationForm(request.POST or None, prefix="organisation")
    if request.method != "POST" or not form.is_valid():
        return render(request, "accounts/no_team.html", {"form": form})

    name = form.cleaned_data["name"]
    secrets = services.organisation_create(request.user, name)
    request.session[ENVIRONMENT_SESSION_KEY] = Environment.SANDBOX
    request.session[NEW_SECRETS_SESSION_KEY] = secrets
    messages.success(request, f"Created {name}. You are its admin.")
    return redirect("accounts:home")


@require_http_methods(["GET", "POST"])
def invite(request, token):
    invite = services.invite_find(token)
    state = invite.state if invite else "unknown"
    if state != "pending":
        return _invite_unavailable(request, state)

    if request.user.is_authenticated:
        return _invite_for_signed_in(request, invite, token)
    return _invite_for_newcomer(request, invite, token)


def _invite_for_newcomer(request, invite, token):
    form = NewAccountForm(request.POST or None)
    context = {"invite": invite, "form": form, "token": token}
    if request.method != "POST" or not form.is_valid():
        return render(request, "accounts/invite_join.html", context)

    fields = form.cleaned_data
    try:
        user = services.invite_sign_up(
            token, fields["name"], fields["email"], fields["password"]
        )
    except services.EmailTaken:
        form.add_error("email", "An account with this email already exists.")
        return render(request, "accounts/invite_join.html", context)
    except services.InviteUnavailable as gone:
        return _invite_unavailable(request, gone.state)

    login(request, user)
    return _welcome(request, invite)


def _invite_for_signed_in(request, invite, token):
    membership = request.membership
    context = {"invite": invite, "token": token, "membership": membership}
    if membership is not None or request.method != "POST":
        return render(request, "accounts/invite_signed_in.html", context)

    try:
        services.invite_accept(token, request.user)
    except services.InviteUnavailable as gone:
        return _invite_unavailable(request, gone.state)
    return _welcome(request, invite)


def _welcome(request, invite):
    messages.success(request, f"Welcome to {invite.organisation.name}.")
    return redirect("accounts:home")


def _invite_unavailable(request, state):
    context = {"state": state, "valid_days": settings.INVITE_VALID_DAYS}
    status = INVITE_GONE_STATUS[state]
    return render(
        request, "accounts/invite_unavailable.html", context, status=status
    )


@member_required
def settings_page(request):
    return _render_settings(request)


@require_POST
@member_required
def profile_update(request):
    form = ProfileForm(request.POST, instance=request.user)
    if not form.is_valid():
        return _render_settings(request, profile_form=form)

    form.save()
    messages.success(request, "Your name was saved.")
    return redirect(_settings_url("account"))


@require_POST
@member_required
def password_change(request):
    form = _password_form(request.user, request.POST)
    if not form.is_valid():
        return _render_settings(request, password_form=form)

    form.save()
    update_session_auth_hash(request, form.user)
    messages.success(request, "Your password was changed.")
    return redirect(_settings_url("account"))


@require_POST
@admin_required
def organisation_rename(request):
    # A fresh copy, so a refused name never shows up in the sidebar.
    organisation_id = request.membership.organisation_id
    organisation = Organisation.objects.get(pk=organisation_id)
    form = OrganisationForm(
        request.POST, instance=organisation, prefix="organisation"
    )
    if not form.is_valid():
        return _render_settings(request, organisation_form=form)

    form.save()
    messages.success(request, f"The organisation is now called {organisation}.")
    return redirect(_settings_url("organisation"))


@require_POST
@admin_required
def invite_create(request):
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _render_settings(request, invite_form=form)

    invite, token = services.invite_create(
        request.membership.organisation, form.cleaned_data["role"], request.user
    )
    link = reverse("accounts:invite", args=[token])
    request.session[NEW_INVITE_SESSION_KEY] = request.build_absolute_uri(link)
    return redirect(_settings_url("invites"))


@require_POST
@admin_required
def invite_revoke(request, invite_id):
    organisation = request.membership.organisation
    invite = get_object_or_404(
        Invite, public_id=invite_id, organisation=organisation
    )

    if services.invite_revoke(invite):
        messages.success(request, "The invite link was revoked.")
    else:
        messages.warning(request, f"That invite was already {invite.state}.")
    return redirect(_settings_url("invites"))


@require_POST
@admin_required
def member_remove(request, member_id):
    organisation = request.membership.organisation
    member = get_object_or_404(
        Membership.objects.select_related("user", "organisation"),
        public_id=member_id,
        organisation=organisation,
    )

    try:
        services.member_remove(member)
    except services.TeamRuleBroken as refusal:
        messages.error(request, str(refusal))
        return redirect(_settings_url("team"))

    if member.user_id == request.user.pk:
        logout(request)
        messages.success(request, f"You have left {organisation}.")
        return redirect("accounts:login")
    messages.success(request, f"{member.user.email} was removed from the team.")
    return redirect(_settings_url("team"))


def _render_settings(request, **bound_forms):
    membership = request.membership
    organisation = membership.organisation
    forms = {
        "profile_form": ProfileForm(instance=request.user),
        "password_form": _password_form(request.user),
        "organisation_form": OrganisationForm(
            instance=organisation, prefix="organisation"
        ),
        "invite_form": InviteForm(),
        **bound_forms,
    }

    context = {
        "page": "settings",
        "members": _members(organisation),
        "invites": _pending_invites(membership),
        "new_invite_link": request.session.pop(NEW_INVITE_SESSION_KEY, None),
        "invite_valid_days": settings.INVITE_VALID_DAYS,
        **forms,
    }
    return render(request, "accounts/settings.html", context)


def _password_form(user, data=None):
    # Django focuses the old password; on a phone that scrolls Settings
    # past its heading, and changing a password is not the page's purpose.
    form = PasswordChangeForm(user, data)
    form.fields["old_password"].widget.attrs.pop("autofocus", None)
    return form


def _members(organisation):
    return organisation.memberships.select_related("user").order_by("pk")


def _pending_invites(membership):
    if not membership.is_admin:
        return Invite.objects.none()
    pending = Invite.objects.pending().filter(
        organisation=membership.organisation
    )
    return pending.select_related("created_by").order_by("-created")


def _settings_url(section):
    return reverse("accounts:settings") + f"#{section}"


def _is_safe(request, url):
    return url_has_allowed_host_and_scheme(
        url, {request.get_host()}, require_https=request.is_secure()
    )


def _keep_new_secret(request, environment, secret):
    waiting = request.session.get(NEW_SECRETS_SESSION_KEY, {})
    request.session[NEW_SECRETS_SESSION_KEY] = {**waiting, environment: secret}


def _waiting_environments(request):
    waiting = request.session.get(NEW_SECRETS_SESSION_KEY, {})
    return [Environment(environment).label for environment in waiting]


def _pop_new_secret(request, environment):
    waiting = request.session.get(NEW_SECRETS_SESSION_KEY, {})
    secret = waiting.pop(environment, None)
    if secret is not None:
        request.session[NEW_SECRETS_SESSION_KEY] = waiting
    return secret
