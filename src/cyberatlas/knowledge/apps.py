from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "cyberatlas.knowledge"
    label = "knowledge"
    verbose_name = "Knowledge base"
