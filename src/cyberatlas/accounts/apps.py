from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "cyberatlas.accounts"
    label = "accounts"
    verbose_name = "Accounts"
