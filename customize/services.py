"""How Link looks and behaves for one scope: title, logo, platforms, origins."""

import hashlib
import logging

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import api_key_for
from customize import origins
from customize.models import LinkSettings
from platforms.services import platform_states
from rutterdash.scoping import Scope

log = logging.getLogger(__name__)

# Every field but the logo bytes, which only the logo view needs.
WITHOUT_LOGO = ("logo_png",)


def link_settings(scope):
    """The scope's Link settings; an unsaved default when it has none."""
    found = scope.all(LinkSettings).defer(*WITHOUT_LOGO).first()
    return found or scope.stamp(LinkSettings())


def landing_title(scope, settings=None):
    """The heading Link's landing step shows, or "" when it is switched off."""
    settings = settings or link_settings(scope)
    if not settings.show_title:
        return ""
    return settings.title or scope.organisation.name


def link_platforms(scope):
    """Platforms Link lists: enabled here and not hidden in Customize.

    Unavailable ones (production, missing credentials) stay in, so Link can
    show them as not available rather than leave people wondering.
    """
    hidden = set(link_settings(scope).hidden_platforms)
    return [
        state
        for state in platform_states(scope)
        if state.enabled and state.platform.code not in hidden
    ]


def origin_allowed(scope, origin):
    """May Link opened with this scope's public key post its result to ``origin``?"""
    try:
        normal = origins.parse_origin(origin or "")
    except origins.InvalidOrigin:
        return False
    if scope.is_sandbox:
        return True
    return normal in link_settings(scope).allowed_origins


def link_settings_save(
    scope, *, show_title, title, hidden_platforms, allowed_origins, logo_png=None
):
    """Store the scope's Link settings; a new logo replaces the old one."""
    settings = _settings_for_update(scope)
    settings.show_title = show_title
    settings.title = title
    settings.hidden_platforms = sorted(set(hidden_platforms))
    settings.allowed_origins = list(dict.fromkeys(allowed_origins))
    if logo_png is not None:
        _set_logo(settings, logo_png)
    settings.save()
    log.info(
        "Saved Link settings for organisation %s (%s)%s",
        scope.organisation.pk,
        scope.environment,
        " with a new logo" if logo_png is not None else "",
    )
    return settings


def logo_store(scope, png):
    settings = _settings_for_update(scope)
    _set_logo(settings, png)
    settings.save(update_fields=["logo_png", "logo_updated", "updated"])
    log.info(
        "Stored a %d-byte Link logo for organisation %s (%s)",
        len(png),
        scope.organisation.pk,
        scope.environment,
    )


def _set_logo(settings, png):
    settings.logo_png = png
    settings.logo_updated = timezone.now()


def logo_remove(scope):
    removed = (
        scope.all(LinkSettings)
        .exclude(logo_updated=None)
        .update(logo_png=None, logo_updated=None, updated=timezone.now())
    )
    if removed:
        log.info(
            "Removed the Link logo of organisation %s (%s)",
            scope.organisation.pk,
            scope.environment,
        )
    return bool(removed)


def logo_url(scope):
    """Public URL of the scope's logo, versioned so browsers may cache it long."""
    settings = link_settings(scope)
    if settings.logo_updated is None:
        return None
    # Keyed by the public key, so Link can show it to people not signed in.
    api_key, _secret = api_key_for(scope)
    path = reverse("customize:logo", args=[api_key.public_key])
    return f"{path}?v={int(settings.logo_updated.timestamp())}"


def logo_for_public_key(public_key):
    """(png, etag, version) of the logo a public key shows, or None."""
    keys = ApiKey.objects.select_related("organisation")
    api_key = keys.filter(public_key=public_key).first()
    if api_key is None:
        return None

    scope = Scope(api_key.organisation, api_key.environment)
    settings = scope.all(LinkSettings).exclude(logo_updated=None).first()
    if settings is None or not settings.logo_png:
        return None

    png = bytes(settings.logo_png)
    etag = hashlib.sha256(png).hexdigest()[:32]
    version = str(int(settings.logo_updated.timestamp()))
    return png, etag, version


def _settings_for_update(scope):
    found = scope.all(LinkSettings).defer(*WITHOUT_LOGO).first()
    if found is not None:
        return found

    settings = scope.stamp(LinkSettings())
    try:
        with transaction.atomic():
            settings.save()
    except IntegrityError:
        # A second tab saved first; change the row it made.
        return scope.all(LinkSettings).defer(*WITHOUT_LOGO).get()
    return settings
