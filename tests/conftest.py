import pytest
from django.test import Client

from accounts.admission_cache import admission_cache
from accounts.models import Role
from rutterdash.environments import Environment
from rutterdash.scoping import Scope
from tests.browser_support import running_chromium
from tests.factories import MembershipFactory, OrganisationFactory
from tests.webhook_receiver import Receiver


@pytest.fixture(autouse=True)
def request_log_written_at_once(settings):
    """Batched request-log rows could land after a test emptied its tables."""
    settings.API_REQUEST_LOG_FLUSH_SECONDS = 0


@pytest.fixture(autouse=True)
def admission_cache_per_test():
    """Start each test with nothing kept; close the listener (it would block
    dropping the test database)."""
    admission_cache.forget_all()
    yield
    admission_cache.listener.close()
    admission_cache.listener.retry_now()
    admission_cache.forget_all()


@pytest.fixture
def organisation(db):
    return OrganisationFactory(name="Acme Lending")


@pytest.fixture
def admin(organisation):
    return MembershipFactory(organisation=organisation, role=Role.ADMIN).user


@pytest.fixture
def developer(organisation):
    return MembershipFactory(organisation=organisation, role=Role.DEVELOPER).user


@pytest.fixture
def outsider(db):
    """An admin of a different organisation."""
    return MembershipFactory(role=Role.ADMIN).user


def signed_in_client(user, environment=Environment.SANDBOX):
    client = Client()
    client.force_login(user)
    session = client.session
    session["environment"] = environment
    session.save()
    return client


@pytest.fixture
def admin_client(admin):
    return signed_in_client(admin)


@pytest.fixture
def developer_client(developer):
    return signed_in_client(developer)


@pytest.fixture
def outsider_client(outsider):
    return signed_in_client(outsider)


@pytest.fixture
def sandbox(organisation):
    return Scope(organisation, Environment.SANDBOX)


@pytest.fixture
def production(organisation):
    return Scope(organisation, Environment.PRODUCTION)


@pytest.fixture
def task_queue(settings):
    """Tasks are queued, not run: the DummyBackend keeps them in `.results`."""
    from django_tasks import default_task_backend

    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.dummy.DummyBackend",
            "QUEUES": ["default", "sync", "webhooks"],
        }
    }
    default_task_backend.clear()
    return default_task_backend


@pytest.fixture(autouse=True)
def no_wake_up_queued_yet(monkeypatch):
    """Each test starts as a fresh worker process: no webhook wake-up queued."""
    from webhooks import delivery

    monkeypatch.setattr(delivery, "_wake_queued_for", None)
    monkeypatch.setattr(delivery, "_throttled_until", {})


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Real hashing costs about a second per sign-in; tests need no such cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def private_cache(settings):
    """Each test gets an empty in-memory cache, not the shared file cache."""
    from django.core.cache import cache

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="module")
def browser():
    with running_chromium() as chromium:
        yield chromium


@pytest.fixture
def receiver():
    """A webhook receiver listening on loopback for this test."""
    with Receiver() as running:
        yield running
