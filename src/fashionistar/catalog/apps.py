from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class CatalogConfig(AppConfig):
    name = "fashionistar.catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Make cached catalog answers stale when a catalog or stock row changes."""
        from fashionistar.catalog.models import Category, Product, Variant
        from fashionistar.catalog.services import catalog_row_written
        from fashionistar.inventory.models import Stock

        for model in (Category, Product, Variant, Stock):
            post_save.connect(catalog_row_written, sender=model, dispatch_uid=f"catalog-{model}")
            post_delete.connect(catalog_row_written, sender=model, dispatch_uid=f"catalog-d{model}")
        # A flush (tests, a restored backup) emits post_migrate: nothing cached survives it.
        post_migrate.connect(catalog_row_written, sender=self, dispatch_uid="catalog-migrate")
