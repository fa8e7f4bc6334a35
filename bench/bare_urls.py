"""The product's URLs plus one bare view, for bench/api.py only.

Selected with ROOT_URLCONF=bench.bare_urls; production never loads it.
The bare view answers, with no work at all, the bytes that the API's list
call answered once (read from the file named by BENCH_BARE_BODY), so the
benchmark can compare the API with Django serving the same JSON.
"""

import os
from pathlib import Path

from django.http import HttpResponse
from django.urls import path

from rutterdash.urls import urlpatterns as product_urlpatterns

BODY = Path(os.environ["BENCH_BARE_BODY"]).read_bytes()
CONTENT_TYPE = "application/json; charset=utf-8"


def bare(request):
    return HttpResponse(BODY, content_type=CONTENT_TYPE)


urlpatterns = [path("bench/bare", bare), *product_urlpatterns]
