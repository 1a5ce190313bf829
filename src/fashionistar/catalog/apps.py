from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "fashionistar.catalog"
    default_auto_field = "django.db.models.BigAutoField"
