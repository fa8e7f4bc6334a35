"""List responses kept per books version, in each worker process.

An endpoint opts in (``keep_pages_of``) when its answer depends on nothing
but its connection's row, the organisation's row, the connection's books
and the request's query string and version header. Its 200 responses are
kept, as the bytes sent, under:

- the connection's books version (rutterdash.models.BooksVersion) and the
  connection's and organisation's row versions, all read in the statement
  that admitted the request (accounts.api_auth);
- the key, the path, the raw query string and the ``X-Rutter-Version``
  header the kept answer was given for.

Writes to a connection's accounts or journal lines bump its books version
inside the writing transaction, and any update of the connection or the
organisation changes its row version, so:

- once a write has committed, every request reads the new versions and
  misses the old pages: nothing written or synced shows late;
- a page built after its versions were read holds that state or a newer
  one, never an older one.

A request answered from here has passed the same checks as the one whose
answer was kept: its credentials and rate limit were checked by this
request's admission, and the query string and version header are those of
a request that ninja validated and the endpoint answered with a 200 (a
disabled or not-ready connection answers an error, which is not kept,
and changing that state changes the connection's row version). Without
versions (another database than PostgreSQL) nothing is kept.
"""

import threading
from collections import OrderedDict

from django.http import HttpResponse

MAX_PAGES = 128
VERSION_HEADER = "HTTP_X_RUTTER_VERSION"

_url_names = set()
_pages = OrderedDict()
_lock = threading.Lock()


def keep_pages_of(url_name):
    """Keep the GET answers of the endpoint named ``url_name``."""
    _url_names.add(url_name)


def kept(request, admission):
    """The response kept for this request, or None."""
    key = _key(request, admission)
    if key is None:
        return None
    with _lock:
        page = _pages.get(key)
        if page is None:
            return None
        _pages.move_to_end(key)
    body, content_type = page
    return HttpResponse(body, content_type=content_type)


def keep(request, admission, response):
    if response.status_code != 200 or response.streaming:
        return
    key = _key(request, admission)
    if key is None or not _opted_in(request):
        return
    page = (response.content, response["Content-Type"])
    with _lock:
        _pages[key] = page
        while len(_pages) > MAX_PAGES:
            _pages.popitem(last=False)


def forget_all():
    with _lock:
        _pages.clear()


def _key(request, admission):
    if request.method != "GET" or not admission.versions:
        return None
    _, organisation, connection = admission.versions
    if connection[0] is None:
        return None
    meta = request.META
    return (
        admission.api_key_id,
        organisation,
        connection,
        request.path,
        meta.get("QUERY_STRING", ""),
        meta.get(VERSION_HEADER),
    )


def _opted_in(request):
    match = request.resolver_match
    return match is not None and match.url_name in _url_names
