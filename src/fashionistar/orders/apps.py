from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "fashionistar.orders"
    default_auto_field = "django.db.models.BigAutoField"
