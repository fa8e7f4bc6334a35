from django.apps import AppConfig


class CustomizeConfig(AppConfig):
    name = "customize"
