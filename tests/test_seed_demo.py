import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import ApiKey, Membership, Organisation, User
from connections.models import Connection
from rutterdash.management.commands.seed_demo import database_key


def _seed(monkeypatch, tmp_path, **env):
    monkeypatch.setattr(
        "rutterdash.management.commands.seed_demo.CREDENTIALS_FILE",
        tmp_path / "demo-credentials.json",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seeding_twice_reuses_the_demo_data(monkeypatch, tmp_path):
    first = _seed(monkeypatch, tmp_path)
    second = _seed(monkeypatch, tmp_path)

    assert Organisation.objects.count() == 1
    assert User.objects.count() == 1
    assert ApiKey.objects.count() == 2
    assert Connection.objects.filter(environment="sandbox").count() == 4
    password_line = [line for line in first.splitlines() if "password" in line]
    assert password_line and password_line[0] in second


@pytest.mark.django_db
def test_seeding_prints_a_password_that_signs_in(monkeypatch, tmp_path, client):
    output = _seed(monkeypatch, tmp_path)

    password = _value(output, "Admin password:")
    assert client.login(username="admin@example.com", password=password)
    assert Membership.objects.get(user__email="admin@example.com").is_admin


@pytest.mark.django_db
def test_seeding_honours_the_demo_admin_settings(monkeypatch, tmp_path, client):
    output = _seed(
        monkeypatch,
        tmp_path,
        DEMO_ADMIN_EMAIL="ops@lender.test",
        DEMO_ADMIN_PASSWORD="a-long-demo-passphrase",
    )

    assert "ops@lender.test" in output
    assert client.login(username="ops@lender.test", password="a-long-demo-passphrase")


@pytest.mark.django_db
def test_seeding_prints_the_sandbox_keys(monkeypatch, tmp_path):
    output = _seed(monkeypatch, tmp_path)

    key = ApiKey.objects.get(environment="sandbox")
    assert str(key.client_id) in output
    assert key.check_secret(_value(output, "client secret:"))
    assert key.public_key in output


def _value(output, label):
    line = next(line for line in output.splitlines() if label in line)
    return line.split(label, 1)[1].strip()


@pytest.mark.django_db
def test_seeding_again_keeps_a_password_the_admin_changed(monkeypatch, tmp_path):
    _seed(monkeypatch, tmp_path)
    admin = User.objects.get(email="admin@example.com")
    admin.set_password("my-own-new-passphrase")
    admin.save()

    output = _seed(monkeypatch, tmp_path)

    admin.refresh_from_db()
    assert admin.check_password("my-own-new-passphrase")
    assert "changed in Settings" in _value(output, "Admin password:")


def _as_database(monkeypatch, name):
    monkeypatch.setattr(
        "rutterdash.management.commands.seed_demo.database_key", lambda: name
    )


def _fresh_database():
    User.objects.all().delete()


@pytest.mark.django_db
def test_each_database_remembers_its_own_demo_password(monkeypatch, tmp_path):
    _as_database(monkeypatch, "sqlite:///db.sqlite3")
    on_sqlite = _value(_seed(monkeypatch, tmp_path), "Admin password:")
    sqlite_hash = User.objects.get().password
    _fresh_database()
    _as_database(monkeypatch, "postgresql://127.0.0.1:5432/rutterdash")
    on_postgres = _value(_seed(monkeypatch, tmp_path), "Admin password:")

    # Back on SQLite, whose admin still has the first password.
    User.objects.update(password=sqlite_hash)
    _as_database(monkeypatch, "sqlite:///db.sqlite3")
    again = _value(_seed(monkeypatch, tmp_path), "Admin password:")

    assert on_sqlite != on_postgres
    assert again == on_sqlite
    saved = json.loads((tmp_path / "demo-credentials.json").read_text())
    assert saved == {
        "sqlite:///db.sqlite3": {"admin@example.com": on_sqlite},
        "postgresql://127.0.0.1:5432/rutterdash": {"admin@example.com": on_postgres},
    }


@pytest.mark.django_db
def test_a_file_from_before_databases_were_told_apart_still_works(
    monkeypatch, tmp_path, client
):
    first = _value(_seed(monkeypatch, tmp_path), "Admin password:")
    credentials = tmp_path / "demo-credentials.json"
    credentials.write_text(json.dumps({"admin@example.com": first}))

    output = _seed(monkeypatch, tmp_path)

    assert _value(output, "Admin password:") == first
    saved = json.loads(credentials.read_text())
    assert saved[database_key()] == {"admin@example.com": first}


@pytest.mark.django_db
def test_the_database_key_names_the_database_in_use():
    name = connection.settings_dict["NAME"]

    assert database_key().startswith(f"{connection.vendor}://")
    assert database_key().endswith(f"/{name}")
