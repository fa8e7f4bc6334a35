from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import condition, require_GET

from accounts.decorators import member_required
from customize import services

# Link asks for the logo with its version in the query, so that URL may be
# cached for a long time; a bare URL is revalidated with the ETag each time.
VERSIONED_MAX_AGE = 60 * 60 * 24 * 365


@member_required
def index(request):
    return render(request, "customize/index.html", {"page": "customize"})


def _logo_etag(request, public_key):
    request.logo = services.logo_for_public_key(public_key)
    return request.logo[1] if request.logo else None


@require_GET
@condition(etag_func=_logo_etag)
def logo(request, public_key):
    if request.logo is None:
        raise Http404("No logo here.")

    png, _etag, version = request.logo
    response = HttpResponse(png, content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    if request.GET.get("v") == version:
        patch_cache_control(response, public=True, max_age=VERSIONED_MAX_AGE)
        patch_cache_control(response, immutable=True)
    else:
        patch_cache_control(response, public=True, no_cache=True)
    return response
