from django.apps import AppConfig
from django.db.backends.signals import connection_created


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and team"

    def ready(self):
        from accounts.admission_cache import watch_writes

        connection_created.connect(watch_writes)
