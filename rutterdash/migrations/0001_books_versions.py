"""Books versions, bumped by triggers on accounts and journal lines.

PostgreSQL only: elsewhere the table exists but stays empty, and nothing
reads it (the API only caches by version on PostgreSQL).
"""

from django.db import migrations, models

# Statement-level, with transition tables: a sync inserting a hundred
# thousand lines bumps each connection it touched once, not once per row.
# PostgreSQL allows a transition table on a single event per trigger, so
# each table gets one trigger per event.
BUMP_FUNCTION = """
CREATE FUNCTION rutterdash_bump_books_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rutterdash_booksversion (connection_id, version)
        SELECT DISTINCT connection_id, 1 FROM changed_new
        ON CONFLICT (connection_id) DO UPDATE
        SET version = rutterdash_booksversion.version + 1;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO rutterdash_booksversion (connection_id, version)
        SELECT DISTINCT connection_id, 1 FROM changed_old
        ON CONFLICT (connection_id) DO UPDATE
        SET version = rutterdash_booksversion.version + 1;
    ELSE
        INSERT INTO rutterdash_booksversion (connection_id, version)
        SELECT connection_id, 1 FROM changed_new
        UNION SELECT connection_id, 1 FROM changed_old
        ON CONFLICT (connection_id) DO UPDATE
        SET version = rutterdash_booksversion.version + 1;
    END IF;
    RETURN NULL;
END
$$;
"""
TABLES = ("connections_account", "connections_journalline")
EVENTS = {
    "INSERT": "NEW TABLE AS changed_new",
    "DELETE": "OLD TABLE AS changed_old",
    "UPDATE": "NEW TABLE AS changed_new OLD TABLE AS changed_old",
}


def _trigger_name(table, event):
    return f"{table}_books_version_{event.lower()}"


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(BUMP_FUNCTION)
    for table in TABLES:
        for event, referencing in EVENTS.items():
            schema_editor.execute(
                f"CREATE TRIGGER {_trigger_name(table, event)} AFTER {event} "
                f"ON {table} REFERENCING {referencing} "
                "FOR EACH STATEMENT EXECUTE FUNCTION rutterdash_bump_books_version()"
            )


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        for event in EVENTS:
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS {_trigger_name(table, event)} ON {table}"
            )
    schema_editor.execute("DROP FUNCTION IF EXISTS rutterdash_bump_books_version()")


class Migration(migrations.Migration):
    initial = True

    dependencies = [("connections", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="BooksVersion",
            fields=[
                ("connection_id", models.UUIDField(primary_key=True, serialize=False)),
                ("version", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
