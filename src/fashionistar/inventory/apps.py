from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "fashionistar.inventory"
    default_auto_field = "django.db.models.BigAutoField"
