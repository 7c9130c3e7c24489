from django.apps import AppConfig


class InvestigationsConfig(AppConfig):
    name = "cyberatlas.investigations"
    label = "investigations"
    verbose_name = "Investigations"
