"""Account list pages kept per books version, in each worker process.

A page is kept under its connection's books version (rutterdash.models.
BooksVersion), read in the statement that admitted the request
(accounts.api_auth), beside every connection field the page shows and
every query parameter. Writes to a connection's accounts or journal lines
bump the version inside the writing transaction, so:

- once a write has committed, every request reads the new version and
  misses the old pages: nothing written or synced shows late;
- a page built after its version was read holds that version's data or
  newer, never older.

The connection itself (disabled, needs re-auth, ready) and the key are
read fresh on every request, before the cache is consulted. Without a
books version (another database than PostgreSQL) nothing is kept.
"""

import threading
from collections import OrderedDict

MAX_PAGES = 128

_pages = OrderedDict()
_lock = threading.Lock()
_UNVERSIONED = object()


def page(connection, query, build):
    """The page ``build()`` answers, built at most once per books version."""
    version = getattr(connection, "books_version", _UNVERSIONED)
    if version is _UNVERSIONED:
        return build()

    key = _key(connection, version, query)
    with _lock:
        kept = _pages.get(key)
        if kept is not None:
            _pages.move_to_end(key)
            return kept

    built = build()
    with _lock:
        _pages[key] = built
        while len(_pages) > MAX_PAGES:
            _pages.popitem(last=False)
    return built


def forget_all():
    with _lock:
        _pages.clear()


def _key(connection, version, query):
    shown = (
        connection.pk,
        connection.platform,
        connection.created,
        connection.last_sync_completed_at,
        connection.organisation.public_id,
    )
    return (version, shown, tuple(sorted(query.model_dump().items())))
