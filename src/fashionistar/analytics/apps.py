from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "fashionistar.analytics"
    default_auto_field = "django.db.models.BigAutoField"
