"""PostgreSQL connections persist between requests unless configured not to."""

import json
import os
import subprocess
import sys

from django.conf import settings

POSTGRES_URL = "postgres://rutterdash@db.invalid:5432/rutterdash"
PRINT_DATABASE = (
    "import django, json; django.setup(); "
    "from django.conf import settings; "
    "d = settings.DATABASES['default']; "
    "print(json.dumps([d.get('CONN_MAX_AGE'), d.get('CONN_HEALTH_CHECKS')]))"
)


def _database_settings(**overrides):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rutterdash.settings",
        "DEBUG": "true",
        "ENV_FILE": "/dev/null",
        **overrides,
    }
    for name in ("DATABASE_CONN_MAX_AGE", "DATABASE_CONN_HEALTH_CHECKS"):
        if name not in overrides:
            env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", PRINT_DATABASE],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_postgresql_connections_persist_and_are_checked_by_default():
    assert _database_settings(DATABASE_URL=POSTGRES_URL) == [600, True]


def test_the_environment_sets_how_long_and_whether_to_check():
    found = _database_settings(
        DATABASE_URL=POSTGRES_URL,
        DATABASE_CONN_MAX_AGE="0",
        DATABASE_CONN_HEALTH_CHECKS="false",
    )

    assert found == [0, False]


def test_conn_max_age_in_the_url_wins():
    found = _database_settings(DATABASE_URL=POSTGRES_URL + "?conn_max_age=30")

    assert found == [30, True]


def test_sqlite_keeps_djangos_defaults():
    found = _database_settings(DATABASE_URL="sqlite:////tmp/rd-perf-settings.sqlite3")

    assert found == [0, False]
