from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "fashionistar.tasks"
    label = "fashionistar_tasks"
    verbose_name = "Background tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # /metrics reads every queue's figures from Redis when Prometheus scrapes.
        from fashionistar.events.bus import run_handlers_inside
        from fashionistar.observability.metrics import expose_on_scrape
        from fashionistar.tasks.backend import enqueued_together
        from fashionistar.tasks.monitoring import QueueCollector, queue_stats

        expose_on_scrape(QueueCollector(queue_stats))
        # The tasks an event's handlers enqueue: one INSERT, one round trip to Redis.
        run_handlers_inside(enqueued_together)
