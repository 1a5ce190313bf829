from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "fashionistar.tasks"
    label = "fashionistar_tasks"
    verbose_name = "Background tasks"
    default_auto_field = "django.db.models.BigAutoField"
