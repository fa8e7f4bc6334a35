"""Rows the project keeps for itself rather than for one app."""

from django.db import models


class BooksVersion(models.Model):
    """A number that changes whenever a connection's accounts or lines change.

    PostgreSQL triggers on the account and journal-line tables bump it in
    the writing transaction itself (see migration 0001), so a reader that
    sees a version also sees every change made before it. Connections whose
    books have not changed since the triggers were installed have no row.
    No foreign key: the triggers bump it while a connection is deleted.
    """

    connection_id = models.UUIDField(primary_key=True)
    version = models.BigIntegerField(default=0)
