"""Production settings are safe, and unsafe ones refuse to start."""

import os
import subprocess
import sys

from django.conf import settings

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x7Qm2v9LpR4tZ8wK1nB6cY3hF0jD5sG7aE9uI2oP4lM8kN6qW3eR5tY7uI9",
    "ALLOWED_HOSTS": "rutterdash.example.com",
    "DATABASE_URL": "sqlite:////tmp/rutterdash-deploy-check.sqlite3",
    # A developer's .env (written by `make run`) must not leak into the check.
    "ENV_FILE": "/dev/null",
}


def _manage(*args, **env_overrides):
    env = {**os.environ, **PRODUCTION_ENV, **env_overrides}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env = {key: value for key, value in env.items() if value is not None}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_deploy_check_is_clean_under_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    env.update({k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"})

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_the_default_development_key():
    result = _manage("check", SECRET_KEY=settings.DEV_SECRET_KEY)

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
