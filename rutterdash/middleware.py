"""API requests skip the dashboard's middleware.

The API authenticates every request with Basic credentials and keeps no
session, so sessions, CSRF, the signed-in user, messages, frame options and
the dashboard's context and refusal pages do nothing for it but cost about
65 µs of a list call's 220 (in-process, measured in bench/README.md). First
in MIDDLEWARE, this sends API paths through a second, short chain
(API_MIDDLEWARE) ending in the same URL resolution and view call; everything
else goes on through the full chain. Tests and servers take the same route.
"""

from django.conf import settings
from django.core.handlers.base import BaseHandler

# Served by the API's own stack; Link's page under it is the dashboard's.
API_PREFIX = "/versioned/"
NOT_API_PREFIXES = ("/versioned/link/",)


def is_api(path):
    return path.startswith(API_PREFIX) and not path.startswith(NOT_API_PREFIXES)


class ApiRouteMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.api_chain = _chain(settings.API_MIDDLEWARE)

    def __call__(self, request):
        if is_api(request.path_info):
            return self.api_chain(request)
        return self.get_response(request)


def _chain(middleware):
    """The middleware chain Django would build from `middleware`, ending in the view."""
    handler = BaseHandler()
    full = settings.MIDDLEWARE
    # load_middleware reads the setting; this runs once, as the server starts.
    settings.MIDDLEWARE = middleware
    try:
        handler.load_middleware()
    finally:
        settings.MIDDLEWARE = full
    return handler._middleware_chain
