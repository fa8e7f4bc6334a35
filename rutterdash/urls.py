from django.urls import include, path

from rutterdash.api import api

urlpatterns = [
    path("", include("accounts.urls")),
    path("connections/", include("connections.urls")),
    path("platforms/", include("platforms.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("customize/", include("customize.urls")),
    path("link/oauth/", include("platforms.oauth_urls")),
    path("", include("link.urls")),
    path("versioned/", api.urls),
]
