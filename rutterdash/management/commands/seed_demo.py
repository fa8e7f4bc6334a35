"""Create (or reuse) a demo organisation with sandbox connections, and print
how to sign in and call the API. Safe to run any number of times."""

import json
import os
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from accounts.models import ApiKey, Membership, Organisation, Role, User
from accounts.services import api_key_create
from connections.models import Connection
from connections.services import connection_create
from rutterdash.environments import Environment
from rutterdash.scoping import Scope

DEMO_ORGANISATION = "Demo Lending"
DEMO_CONNECTIONS = (
    ("QUICKBOOKS", "Juniper Coffee Roasters"),
    ("XERO", "Harbour Lane Bikes"),
    ("NETSUITE", "Northwind Ceramics"),
    ("QUICKBOOKS", "Bluebell Bakery"),
)
# One demo connection shows what "Needs maintenance" looks like.
NEEDS_REAUTH = {"Bluebell Bakery": "The merchant revoked access in QuickBooks."}
CHANGED_PASSWORD = "(changed in Settings since seeding; use your own)"
# Demo passwords per database ({database: {email: password}}): one checkout
# may be run on SQLite and on PostgreSQL, each with its own admin password.
CREDENTIALS_FILE = settings.BASE_DIR / "var" / "demo-credentials.json"


class Command(BaseCommand):
    help = "Seed a demo organisation, admin and sandbox connections (idempotent)."

    def handle(self, *args, **options):
        email = os.environ.get("DEMO_ADMIN_EMAIL") or "admin@example.com"
        with transaction.atomic():
            organisation = self._organisation()
            password = self._admin(organisation, email)
            keys = {env: self._api_key(organisation, env) for env in Environment}
        sandbox = Scope(organisation, Environment.SANDBOX)
        self._connections(sandbox)
        self._print_welcome(email, password, keys[Environment.SANDBOX])

    def _organisation(self):
        organisation = Organisation.objects.filter(name=DEMO_ORGANISATION).first()
        return organisation or Organisation.objects.create(name=DEMO_ORGANISATION)

    def _admin(self, organisation, email):
        """The demo admin's password, or None once they have changed it."""
        user = User.objects.filter(email__iexact=email).first()
        chosen = os.environ.get("DEMO_ADMIN_PASSWORD")
        database = database_key()
        everything = _saved_credentials()
        saved = everything.get(database) or _from_before_databases(everything)
        if user is None:
            password = chosen or secrets.token_urlsafe(12)
            user = User.objects.create_user(email, password, name="Demo Admin")
        elif chosen:
            password = chosen
            if not user.check_password(chosen):
                user.set_password(chosen)
                user.save(update_fields=["password"])
        else:
            # Never undo a password the admin changed in Settings.
            remembered = saved.get(email)
            valid = remembered and user.check_password(remembered)
            password = remembered if valid else None
        Membership.objects.get_or_create(
            user=user, organisation=organisation, defaults={"role": Role.ADMIN}
        )
        if password:
            everything[database] = {**saved, email: password}
            _save_credentials(everything)
        return password

    def _api_key(self, organisation, environment):
        key = ApiKey.objects.filter(
            organisation=organisation, environment=environment
        ).first()
        if key is None:
            key, _secret = api_key_create(organisation, environment)
        return key

    def _connections(self, sandbox):
        existing = set(sandbox.all(Connection).values_list("store_name", flat=True))
        for platform, store_name in DEMO_CONNECTIONS:
            if store_name in existing:
                continue
            connection, _token = connection_create(sandbox, platform, store_name)
            if store_name in NEEDS_REAUTH:
                connection.needs_reauth = True
                connection.needs_reauth_reason = NEEDS_REAUTH[store_name]
                connection.save(update_fields=["needs_reauth", "needs_reauth_reason"])
            self.stdout.write(f"Created sandbox connection {store_name}.")

    def _print_welcome(self, email, password, sandbox_key):
        port = os.environ.get("PORT", "8000")
        lines = [
            "",
            "Rutterdash is ready.",
            f"  Dashboard:        http://127.0.0.1:{port}/",
            f"  Admin email:      {email}",
            f"  Admin password:   {password or CHANGED_PASSWORD}",
            "  Sandbox API keys:",
            f"    client id:      {sandbox_key.client_id}",
            f"    client secret:  {sandbox_key.secret()}",
            f"    public key:     {sandbox_key.public_key}",
            "",
        ]
        self.stdout.write("\n".join(lines))


def database_key():
    """Which database this is, as the credentials file names it."""
    db = connection.settings_dict
    where = f"{db['HOST']}:{db['PORT']}" if db["HOST"] else ""
    return f"{connection.vendor}://{where}/{db['NAME']}"


def _saved_credentials():
    try:
        saved = json.loads(CREDENTIALS_FILE.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _from_before_databases(saved):
    """The {email: password} an older file held for whichever database ran last.

    Only a password the user still has is used, so trying it on the other
    database is harmless; it stays in the file for that one too.
    """
    return {
        email: password
        for email, password in saved.items()
        if isinstance(password, str)
    }


def _save_credentials(credentials):
    CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
    CREDENTIALS_FILE.write_text(json.dumps(credentials))
    CREDENTIALS_FILE.chmod(0o600)
