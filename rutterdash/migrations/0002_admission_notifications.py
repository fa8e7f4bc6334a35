"""Notify the API's workers when a row their admissions keep may change.

PostgreSQL only. Every statement writing an API key, organisation,
connection or books version (the account and journal-line triggers write
those) sends one notification on ``rutterdash_admission``; its payload
is constant, so PostgreSQL sends one per transaction however many
statements wrote (see accounts.admission_cache).
"""

from django.db import migrations

CHANNEL = "rutterdash_admission"
NOTIFY_FUNCTION = f"""
CREATE FUNCTION rutterdash_notify_admission() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END
$$;
"""
TABLES = (
    "accounts_apikey",
    "accounts_organisation",
    "connections_connection",
    "rutterdash_booksversion",
)


def _trigger_name(table):
    return f"{table}_notify_admission"


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(NOTIFY_FUNCTION)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {_trigger_name(table)} "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION rutterdash_notify_admission()"
        )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f"DROP TRIGGER IF EXISTS {_trigger_name(table)} ON {table}"
        )
    schema_editor.execute("DROP FUNCTION IF EXISTS rutterdash_notify_admission()")


class Migration(migrations.Migration):
    dependencies = [
        ("rutterdash", "0001_books_versions"),
        ("accounts", "0005_rate_limit_leases"),
        ("connections", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
