"""Which platforms a scope offers, and the developer credentials behind them."""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from platforms import catalog
from platforms.models import PlatformSetting

log = logging.getLogger(__name__)


class UnknownPlatform(LookupError):
    """The code names no platform in the catalog."""


@dataclass(frozen=True)
class PlatformState:
    """A catalog platform as one scope has it set up."""

    platform: catalog.Platform
    setting: PlatformSetting | None
    is_production: bool

    @property
    def enabled(self):
        return self.setting is None or self.setting.enabled

    @property
    def has_credentials(self):
        return self.setting is not None and self.setting.has_credentials

    @property
    def needs_credentials(self):
        """Production OAuth sign-in goes through the customer's own app."""
        return (
            self.is_production and self.platform.uses_oauth and not self.has_credentials
        )

    @property
    def needs_production_sign_in(self):
        """Typed-credential sign-in exists only as sandbox's test login so far."""
        return self.is_production and not self.platform.uses_oauth

    @property
    def available(self):
        blocked = self.needs_credentials or self.needs_production_sign_in
        return self.enabled and not blocked


def platform_states(scope):
    """Every catalog platform, in catalog order, as ``scope`` has it."""
    by_code = {setting.platform: setting for setting in scope.all(PlatformSetting)}
    is_production = not scope.is_sandbox
    return [
        PlatformState(platform, by_code.get(platform.code), is_production)
        for platform in catalog.PLATFORMS
    ]


def matching(states, query):
    """States whose platform name or code contains every word of ``query``."""
    words = query.lower().split()
    return [state for state in states if _contains_all(state.platform, words)]


def _contains_all(platform, words):
    text = f"{platform.name} {platform.code} {platform.code.replace('_', ' ')}"
    text = text.lower()
    return all(word in text for word in words)


def platform_state(scope, platform_code):
    platform = _platform(platform_code)
    setting = setting_for(scope, platform.code)
    return PlatformState(platform, setting, not scope.is_sandbox)


def setting_for(scope, platform_code):
    platform = catalog.get(platform_code)
    if platform is None:
        return None
    return scope.all(PlatformSetting).filter(platform=platform.code).first()


def platform_enable(scope, platform_code, enabled):
    setting = _setting_for_update(scope, platform_code)
    setting.enabled = enabled
    setting.save(update_fields=["enabled", "updated"])
    log.info(
        "%s %s for organisation %s (%s)",
        "Enabled" if enabled else "Disabled",
        setting.platform,
        scope.organisation.pk,
        scope.environment,
    )
    return setting


def credentials_save(scope, platform_code, client_id, client_secret=""):
    """Store a developer app's credentials; a blank secret keeps the stored one."""
    setting = _setting_for_update(scope, platform_code)
    setting.client_id = client_id
    if client_secret:
        setting.set_client_secret(client_secret)
    setting.save()
    log.info(
        "Saved %s credentials for organisation %s (%s)",
        setting.platform,
        scope.organisation.pk,
        scope.environment,
    )
    return setting


def credentials_remove(scope, platform_code):
    setting = setting_for(scope, platform_code)
    if setting is None or not (setting.client_id or setting.client_secret_encrypted):
        return False

    setting.client_id = ""
    setting.set_client_secret("")
    setting.save()
    log.info(
        "Removed %s credentials for organisation %s (%s)",
        setting.platform,
        scope.organisation.pk,
        scope.environment,
    )
    return True


def _platform(platform_code):
    platform = catalog.get(platform_code)
    if platform is None:
        raise UnknownPlatform(platform_code)
    return platform


def _setting_for_update(scope, platform_code):
    platform = _platform(platform_code)
    setting = scope.all(PlatformSetting).filter(platform=platform.code).first()
    if setting is not None:
        return setting

    setting = scope.stamp(PlatformSetting(platform=platform.code))
    try:
        with transaction.atomic():
            setting.save()
    except IntegrityError:
        # Someone saved this platform a moment ago; change their row.
        return scope.all(PlatformSetting).get(platform=platform.code)
    return setting
