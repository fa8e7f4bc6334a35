from django.apps import AppConfig


class LinkConfig(AppConfig):
    name = "link"
    verbose_name = "Link"
