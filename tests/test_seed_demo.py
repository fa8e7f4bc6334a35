from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import ApiKey, Membership, Organisation, User
from connections.models import Connection


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
