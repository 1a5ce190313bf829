from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "fashionistar.ops"
    label = "ops"
    verbose_name = "Operations"
