from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Accounts app."""

    name = "fashionistar.accounts"
    default_auto_field = "django.db.models.BigAutoField"
