from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "cyberatlas.web"
    label = "web"
    verbose_name = "Web pages"
