from django.urls import include, path

from rutterdash.api import api

# The API first: every API request otherwise tries the dashboard's fifty-odd
# patterns before its own (about 30 µs a request). Link's patterns stay
# ahead of it for its /versioned/link/websocket/auth, and link/oauth/ ahead
# of Link's link/<flow_id>/. No path resolves differently for the order.
urlpatterns = [
    path("link/oauth/", include("platforms.oauth_urls")),
    path("", include("link.urls")),
    path("versioned/", api.urls),
    path("", include("accounts.urls")),
    path("connections/", include("connections.urls")),
    path("platforms/", include("platforms.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("customize/", include("customize.urls")),
]
