from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "cyberatlas.interop"
    label = "interop"
    verbose_name = "Exchange"
