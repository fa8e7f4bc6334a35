from django.db import models

from rutterdash.scoping import ScopedModel


class LinkSettings(ScopedModel):
    """How Link looks and where it may open, for one scope.

    A scope without a row uses the defaults: the organisation's name as the
    title, no logo, every enabled platform listed, no allowed origins.
    """

    show_title = models.BooleanField(default=True)
    title = models.CharField(max_length=80, blank=True)
    # A re-encoded, metadata-free PNG no larger than 512 px on a side.
    logo_png = models.BinaryField(null=True, blank=True)
    logo_updated = models.DateTimeField(null=True, blank=True)
    # Platform codes switched off in Link; new platforms show by default.
    hidden_platforms = models.JSONField(default=list, blank=True)
    # Origins ("https://app.example.com") a production public key opens Link from.
    allowed_origins = models.JSONField(default=list, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "link settings"
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "environment"],
                name="one_link_settings_per_scope",
            )
        ]

    def __str__(self):
        return f"Link settings ({self.environment})"
