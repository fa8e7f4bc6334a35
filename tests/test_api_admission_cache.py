"""Admissions kept in the worker, forgotten on writes here and on notifications.

Nothing is kept inside a transaction, so these tests commit
(``transaction=True``); changes "elsewhere" are made on a psycopg
connection of their own, as another worker or the task worker would.
"""

import logging
import os
import time

import psycopg
import pytest
from django.db import connection as db
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from accounts import admission_cache as cache_module
from accounts.admission_cache import admission_cache
from accounts.services import api_key_create, api_key_rotate_secret
from rutterdash import api_requests, listener
from rutterdash.environments import Environment
from rutterdash.host_signal import HostSignal, default_path
from tests import write_support as ws
from tests.api_support import add_chart, api_client, basic_auth, post
from tests.factories import ConnectionFactory

ACCOUNTS = "/versioned/accounting/accounts"
TOKEN = "tok-cache"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_and_batched_log(settings):
    if db.vendor != "postgresql":
        pytest.skip("admissions are kept on PostgreSQL only")
    # Each request's log row would otherwise be a statement of its own.
    settings.API_REQUEST_LOG_FLUSH_SECONDS = 60
    settings.API_ADMISSION_CACHE_SECONDS = 30
    yield
    api_requests.flush()


@pytest.fixture
def key_and_secret(organisation):
    return api_key_create(organisation, Environment.SANDBOX)


@pytest.fixture
def api(key_and_secret):
    api_key, secret = key_and_secret
    return api_client(basic_auth(api_key.client_id, secret))


@pytest.fixture
def books(organisation):
    connection = ConnectionFactory(organisation=organisation, access_token=TOKEN)
    chart = add_chart(connection)
    post(connection, "2024-03-01", [(chart["bank"], "100"), (chart["equity"], "-100")])
    return connection


def _list(api):
    return api.get(ACCOUNTS, {"access_token": TOKEN})


def _statements(api):
    """The list call's answer and the statements it sent."""
    with CaptureQueriesContext(db) as queries:
        response = _list(api)
    return response, [query["sql"] for query in queries.captured_queries]


def _kept(api):
    """Call until the admission is kept: the first call leases and keeps.

    Once more if the calls straddled a rate-limit window's end: the new
    window needs a new lease, which is a statement.
    """
    assert _list(api).status_code == 200
    for _ in range(2):
        response, statements = _statements(api)
        assert response.status_code == 200
        if not statements:
            return response
    assert statements == []
    return response


def _admissions(statements):
    return [sql for sql in statements if "WITH api_key AS" in sql]


def _elsewhere(sql, parameters=()):
    settings = db.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        autocommit=True,
    ) as other:
        other.execute(sql, parameters)


def _until_forgotten():
    deadline = time.monotonic() + 5
    while len(admission_cache):
        assert time.monotonic() < deadline, "no notification arrived"
        admission_cache.listener.poll()
        time.sleep(0.001)


def test_a_repeated_call_holding_a_lease_makes_no_round_trip(api, books):
    first = _list(api)

    second, statements = _statements(api)

    assert statements == []
    assert second.status_code == 200
    assert second.content == first.content
    assert len(admission_cache) == 1


def test_a_secret_rotated_elsewhere_is_refused_once_notified(
    api, key_and_secret, books
):
    api_key, _ = key_and_secret
    _kept(api)

    _elsewhere(
        "UPDATE accounts_apikey SET secret_hash = %s WHERE id = %s",
        ["f" * 64, api_key.pk],
    )
    _until_forgotten()

    assert _list(api).status_code == 401


def test_a_key_deleted_elsewhere_is_refused_once_notified(api, key_and_secret, books):
    api_key, _ = key_and_secret
    _kept(api)

    _elsewhere("DELETE FROM accounts_apikey WHERE id = %s", [api_key.pk])
    _until_forgotten()

    assert _list(api).status_code == 401


def test_a_connection_disabled_elsewhere_is_refused_once_notified(api, books):
    _kept(api)

    _elsewhere(
        "UPDATE connections_connection SET disabled = true WHERE id = %s", [books.pk]
    )
    _until_forgotten()

    response = _list(api)
    assert response.status_code == 409
    assert response.json()["error_code"] == "CONNECTION_DISABLED"


def test_a_connection_deleted_elsewhere_is_refused_once_notified(api, organisation):
    ConnectionFactory(organisation=organisation, access_token=TOKEN)
    _kept(api)

    _elsewhere(
        "DELETE FROM connections_connection WHERE organisation_id = %s",
        [organisation.pk],
    )
    _until_forgotten()

    assert _list(api).status_code == 401


def test_books_changed_elsewhere_are_listed_once_notified(api, books):
    before = _kept(api)

    _elsewhere(
        "UPDATE connections_account SET name = 'Renamed' WHERE connection_id = %s",
        [books.pk],
    )
    _until_forgotten()

    after = _list(api)
    names = {account["name"] for account in after.json()["accounts"]}
    assert after.content != before.content
    assert names == {"Renamed"}


@pytest.fixture
def deaf_listener(monkeypatch):
    """Notifications never arrive: only this process's own writes forget."""
    monkeypatch.setattr(listener, "_drained", lambda pgconn: False)


def test_a_write_through_the_api_is_seen_by_the_next_call(api, books, deaf_listener):
    _kept(api)

    written = ws.post_write(api, TOKEN, "account", ws.account_body(name="Savings"))
    listed = _list(api)

    assert written.status_code == 200
    names = [account["name"] for account in listed.json()["accounts"]]
    assert len(names) == 5
    assert "Savings" in names


def test_a_rotation_in_this_process_is_seen_by_the_next_call(
    api, key_and_secret, books, deaf_listener
):
    api_key, _ = key_and_secret
    _kept(api)

    api_key_rotate_secret(api_key)

    assert _list(api).status_code == 401


def test_a_wrong_secret_is_refused_though_its_client_id_is_kept(
    api, key_and_secret, books
):
    api_key, _ = key_and_secret
    _kept(api)
    wrong = api_client(basic_auth(api_key.client_id, "sk_test_not-the-secret"))

    refused, statements = _statements(wrong)

    assert refused.status_code == 401
    # The admission was kept; the endpoint's auth looked the key up again.
    assert _admissions(statements) == []
    assert _list(api).status_code == 200


def test_a_kept_admission_is_read_again_after_its_maximum_age(
    api, books, monkeypatch, settings
):
    settings.API_ADMISSION_CACHE_SECONDS = 2
    _kept(api)
    later = time.monotonic() + 2
    monkeypatch.setattr(cache_module, "_now", lambda: later)

    response, statements = _statements(api)

    assert response.status_code == 200
    assert len(statements) == 1
    assert '"accounts_apikey"' in statements[0]


def test_zero_seconds_keeps_nothing_and_opens_no_listener(api, books, settings):
    settings.API_ADMISSION_CACHE_SECONDS = 0
    _list(api)

    response, statements = _statements(api)

    assert response.status_code == 200
    assert len(statements) == 1
    assert len(admission_cache) == 0
    assert admission_cache.listener.backend_pid() is None


def test_nothing_is_kept_inside_a_transaction(api, books):
    with transaction.atomic():
        _list(api)
        response, statements = _statements(api)

    assert response.status_code == 200
    assert len(_admissions(statements)) == 1
    assert len(admission_cache) == 0


def test_a_lost_listener_keeps_nothing_until_it_listens_again(api, books, caplog):
    _kept(api)
    lost = admission_cache.listener.backend_pid()
    _elsewhere("SELECT pg_terminate_backend(%s)", [lost])
    _until_backend_gone(lost)

    with caplog.at_level(logging.WARNING, logger="rutterdash.listener"):
        answers = [_statements(api) for _ in range(3)]

    assert [response.status_code for response, _ in answers] == [200] * 3
    assert [len(statements) for _, statements in answers] == [1, 1, 1]
    assert len(admission_cache) == 0
    assert len(caplog.records) == 1
    assert "Lost the PostgreSQL connection" in caplog.records[0].getMessage()

    admission_cache.listener.retry_now()
    _statements(api)
    assert admission_cache.listener.backend_pid() not in (None, lost)
    _kept(api)


def _until_backend_gone(pid):
    deadline = time.monotonic() + 5
    while _backend_alive(pid):
        assert time.monotonic() < deadline, "the backend did not end"
        time.sleep(0.005)


def _backend_alive(pid):
    with db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] > 0


def test_an_idle_worker_still_reads_notifications(api, books, monkeypatch):
    monkeypatch.setattr(listener.Listener, "DRAIN_SECONDS", 0.01)
    _kept(api)

    _elsewhere(
        "UPDATE connections_connection SET disabled = true WHERE id = %s", [books.pk]
    )

    deadline = time.monotonic() + 5
    while len(admission_cache):
        assert time.monotonic() < deadline, "nothing read the notification"
        time.sleep(0.005)


def test_a_forked_child_does_not_use_its_parents_listener(api, books):
    _kept(api)
    parents = admission_cache.listener.backend_pid()
    reading, writing = os.pipe()

    child = os.fork()
    if child == 0:
        inherited = admission_cache.listener.backend_pid()
        os.write(writing, b"none" if inherited is None else b"inherited")
        os._exit(0)
    os.waitpid(child, 0)

    assert os.read(reading, 16) == b"none"
    assert admission_cache.listener.poll()
    assert admission_cache.listener.backend_pid() == parents


def _host_signal():
    """The signal as another process on this host opens it."""
    return HostSignal(default_path(db.settings_dict))


def test_a_change_committed_by_another_process_on_this_host_needs_no_notification(
    api, key_and_secret, books, deaf_listener
):
    # A notification can arrive after the change's own request answered:
    # a client then revoking a key and calling at once was still admitted.
    api_key, _ = key_and_secret
    _kept(api)
    _elsewhere(
        "UPDATE accounts_apikey SET secret_hash = %s WHERE id = %s",
        ["f" * 64, api_key.pk],
    )
    assert _list(api).status_code == 200  # kept: as another host would see it

    _host_signal().bump()  # what the other process does once it committed

    assert _list(api).status_code == 401


def test_committing_a_watched_write_tells_the_other_processes_on_this_host(
    key_and_secret,
):
    api_key, _ = key_and_secret
    other_process = _host_signal()
    other_process.changed()

    api_key_rotate_secret(api_key)

    assert other_process.changed()
    assert not other_process.changed()


def test_a_signal_file_starts_unchanged_for_its_first_reader(tmp_path):
    first, second = HostSignal(tmp_path / "s"), HostSignal(tmp_path / "s")
    first.changed(), second.changed()

    second.bump()

    assert first.changed() and not first.changed()
