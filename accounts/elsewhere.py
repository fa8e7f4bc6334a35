"""Objects asked for in one environment that live in the organisation's other.

A link copied from a Sandbox tab and opened in Production should say where
the object is and offer the switch, not a bare 404. Other organisations'
objects stay a plain 404: nothing about them is revealed.
"""

import inspect

from django.http import Http404
from django.urls import Resolver404, resolve

from rutterdash.environments import Environment
from rutterdash.scoping import Scope


class InOtherEnvironment(Exception):
    def __init__(self, noun, environment):
        super().__init__(f"This {noun} is in {Environment(environment).label}.")
        self.noun = noun
        self.environment = environment


def get_in_scope(scope, rows_in, noun, **lookup):
    """One row of rows_in(scope); InOtherEnvironment if only the other has it.

    rows_in turns a Scope into the queryset a page may read from.
    """
    try:
        return rows_in(scope).get(**lookup)
    except rows_in(scope).model.DoesNotExist:
        pass
    except (ValueError, TypeError):
        raise Http404(f"No {noun} here.") from None

    other = Scope(scope.organisation, _other(scope.environment))
    if rows_in(other).filter(**lookup).exists():
        raise InOtherEnvironment(noun, other.environment)
    raise Http404(f"No {noun} here.")


def _other(environment):
    if environment == Environment.SANDBOX:
        return Environment.PRODUCTION
    return Environment.SANDBOX


def openable_page(path):
    """The nearest page at or above path that a GET can open, e.g. a
    connection's page for its POST-only resync address."""
    segments = path.strip("/").split("/")
    while segments:
        candidate = "/" + "/".join(segments) + "/"
        try:
            match = resolve(candidate)
        except Resolver404:
            match = None
        if match is not None and answers_get(match.func):
            return candidate
        segments.pop()
    return "/"


def answers_get(view):
    """Whether no require_http_methods layer of a view refuses GET.

    Django keeps the allowed methods only in the decorator's closure, so
    each wrapped layer is read from there.
    """
    while view is not None:
        allowed = inspect.getclosurevars(view).nonlocals.get("request_method_list")
        if allowed is not None and "GET" not in allowed:
            return False
        view = getattr(view, "__wrapped__", None)
    return True
