"""The product's URLs plus one bare view, for bench/api.py only.

Selected with ROOT_URLCONF=bench.bare_urls; production never loads it.
Three bare views, so the API can be compared with Django doing (a)
nothing, (b) one database round trip and (c) the same database work:

- /bench/bare answers, with no work at all, the bytes that the API's list
  call answered once (read from the file named by BENCH_BARE_BODY), through
  the dashboard's full middleware; /versioned/bench/bare the same through
  the API's short chain (rutterdash.middleware);
- /bench/bare-query answers the same bytes after one ``SELECT 1`` through
  Django's cursor: the least any view reading the database pays;
- /bench/bare-db looks the connection up by its token, reads the page of
  accounts and their balances and serialises them exactly as the list call
  does, without auth, rate limit, request log, idempotency or ninja.
"""

import os
from pathlib import Path

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.urls import path

from connections import ledger, serializers
from connections.api import balance
from connections.models import Account, Connection
from rutterdash.urls import urlpatterns as product_urlpatterns

BODY = Path(os.environ["BENCH_BARE_BODY"]).read_bytes()
CONTENT_TYPE = "application/json; charset=utf-8"


def bare(request):
    return HttpResponse(BODY, content_type=CONTENT_TYPE)


def bare_query(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return HttpResponse(BODY, content_type=CONTENT_TYPE)


def bare_db(request):
    token = request.GET["access_token"]
    connection = Connection.objects.with_access_token(token).get()
    accounts = ledger.with_balances(Account.objects.filter(connection=connection))
    page = list(accounts.order_by("pk")[:50])
    for account in page:
        account.connection = connection
    return JsonResponse(
        {
            "connection": serializers.connection_ref(connection),
            "accounts": [serializers.account(a, balance(a)) for a in page],
            "next_cursor": None,
        }
    )


urlpatterns = [
    path("bench/bare", bare),
    # Under the API's prefix: the API's short middleware chain.
    path("versioned/bench/bare", bare),
    path("bench/bare-query", bare_query),
    path("bench/bare-db", bare_db),
    *product_urlpatterns,
]
