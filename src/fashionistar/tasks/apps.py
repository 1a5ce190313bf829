from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "fashionistar.tasks"
    label = "fashionistar_tasks"
    verbose_name = "Background tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # /metrics reads every queue's figures from Redis when Prometheus scrapes.
        from fashionistar.observability.metrics import expose_on_scrape
        from fashionistar.tasks.monitoring import QueueCollector, queue_stats

        expose_on_scrape(QueueCollector(queue_stats))
