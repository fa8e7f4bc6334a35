"""The one way to read organisation- and environment-owned rows.

Every model that belongs to an organisation and an environment inherits
``ScopedModel``. Views and API endpoints never query such a model directly:
they ask a ``Scope`` for it, so a missing filter cannot leak another
organisation's or environment's data.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404

from rutterdash.environments import Environment


class ScopedQuerySet(models.QuerySet):
    def in_scope(self, scope):
        return self.filter(
            organisation_id=scope.organisation.pk, environment=scope.environment
        )


class ScopedModel(models.Model):
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    environment = models.CharField(max_length=16, choices=Environment.choices)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        abstract = True


@dataclass(frozen=True)
class Scope:
    organisation: object
    environment: str

    @property
    def is_sandbox(self):
        return self.environment == Environment.SANDBOX

    def all(self, model):
        return model.objects.in_scope(self)

    def get(self, model, **lookup):
        """Fetch one row inside this scope; 404 for anything outside it."""
        try:
            return self.all(model).get(**lookup)
        except (model.DoesNotExist, ValueError, ValidationError):
            raise Http404(f"No {model._meta.verbose_name} here.") from None

    def stamp(self, instance):
        instance.organisation = self.organisation
        instance.environment = self.environment
        return instance
