"""Rate-limit leases: workers take several requests at once from the shared row."""

import pytest
from django.db import connection as db

from accounts.models import RateLimitWindow
from accounts.services import api_key_create
from rutterdash import ratelimit
from rutterdash.environments import Environment
from tests.api_support import api_client, basic_auth

CONNECTIONS = "/versioned/connections"
# The middle of a 10-second window, so no test crosses into the next one.
NOW = 1_000_005.0


@pytest.fixture(autouse=True)
def postgresql_only():
    if db.vendor != "postgresql":
        pytest.skip("elsewhere every request bumps the shared row itself")


@pytest.fixture(autouse=True)
def small_limit(settings, monkeypatch):
    settings.RATE_LIMIT_REQUESTS = 40
    settings.RATE_LIMIT_WINDOW_SECONDS = 10
    settings.RATE_LIMIT_LEASE = 8
    monkeypatch.setattr(ratelimit, "_now", lambda: NOW)


@pytest.fixture
def api(organisation):
    api_key, secret = api_key_create(organisation, Environment.SANDBOX)
    return api_client(basic_auth(api_key.client_id, secret))


class Worker:
    """One worker process's leases, swapped in for its requests."""

    def __init__(self, api, monkeypatch):
        self.api = api
        self.monkeypatch = monkeypatch
        self.leases = ratelimit.Leases()

    def get(self):
        self.monkeypatch.setattr(ratelimit, "leases", self.leases)
        return self.api.get(CONNECTIONS)


def _statuses_until_refused(worker, most=100):
    statuses = []
    while len(statuses) < most:
        statuses.append(worker.get().status_code)
        if statuses[-1] == 429:
            return statuses
    return statuses


def test_one_worker_gets_exactly_the_limit(api, monkeypatch):
    worker = Worker(api, monkeypatch)

    statuses = _statuses_until_refused(worker)

    assert statuses == [200] * 40 + [429]


def test_leases_shrink_to_a_quarter_of_what_is_left(api, monkeypatch):
    worker = Worker(api, monkeypatch)
    grants = []
    for _ in range(40):
        before = RateLimitWindow.objects.first()
        worker.get()
        after = RateLimitWindow.objects.get()
        if before is None or after.count != before.count:
            grants.append(after.granted)

    # 40 left: 8 (the lease size); 32 left: 8; 24: 6; 18: 4; 14: 3; 11: 2;
    # 9: 2; then one at a time.
    assert grants == [8, 8, 6, 4, 3, 2, 2] + [1] * 7
    assert RateLimitWindow.objects.get().count == 40


def test_another_workers_lease_refuses_early_by_at_most_its_unused_part(
    api, monkeypatch
):
    first, second = Worker(api, monkeypatch), Worker(api, monkeypatch)
    assert first.get().status_code == 200  # leases 8, uses 1

    second_statuses = _statuses_until_refused(second)
    first_statuses = _statuses_until_refused(first)

    # The second worker is refused while the first still holds 7 unused
    # requests: (workers - 1) * (lease - 1), the documented bound.
    assert second_statuses == [200] * 32 + [429]
    assert first_statuses == [200] * 7 + [429]
    admitted = 1 + second_statuses.count(200) + first_statuses.count(200)
    assert admitted == 40


def test_a_refusal_says_when_the_window_ends(api, monkeypatch):
    worker = Worker(api, monkeypatch)
    _statuses_until_refused(worker)

    refused = worker.get()

    assert refused.status_code == 429
    assert refused["Retry-After"] == "5"
    assert refused.json()["error_code"] == "RATE_LIMIT_EXCEEDED"


def test_a_new_window_ends_a_lease_and_starts_a_new_count(api, monkeypatch):
    worker = Worker(api, monkeypatch)
    _statuses_until_refused(worker)
    monkeypatch.setattr(ratelimit, "_now", lambda: NOW + 10)

    response = worker.get()

    assert response.status_code == 200
    window = RateLimitWindow.objects.get()
    assert (window.count, window.granted) == (8, 8)


def test_a_lease_of_another_window_is_not_spent():
    leases = ratelimit.Leases()
    window = ratelimit.Window(100, 1000.0)
    leases.admit(7, window, count=8, granted=8)

    assert leases.spend(7, window)
    assert not leases.spend(7, ratelimit.Window(101, 1010.0))


def test_a_lease_past_the_limit_is_usable_only_up_to_it(settings):
    settings.RATE_LIMIT_REQUESTS = 10

    assert ratelimit.usable(count=8, granted=8) == 8
    assert ratelimit.usable(count=12, granted=4) == 2
    assert ratelimit.usable(count=11, granted=1) == 0
