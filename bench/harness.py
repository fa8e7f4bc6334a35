"""Set-up the benchmark scripts share: their database and Django itself.

The scripts run as `python bench/<name>.py`, so this module is imported by
its bare name from the scripts' own folder.
"""

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def progress(message):
    print(message, file=sys.stderr, flush=True)


def create_database(url):
    """Create the PostgreSQL database ``url`` names, unless it exists."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return
    import psycopg

    name = parts.path.lstrip("/")
    maintenance = parts._replace(scheme="postgresql", path="/postgres", query="")
    with psycopg.connect(urlunsplit(maintenance), autocommit=True) as db:
        found = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if found.fetchone() is None:
            progress(f"Creating database {name}")
            db.execute(f'CREATE DATABASE "{name}"')


def setup_django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rutterdash.settings")
    import django

    django.setup()
