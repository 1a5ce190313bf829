"""Load the demo data, idempotently: each start of ``make serve`` and each docs page calls it."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction

from fashionistar.catalog.models import Category, Product
from fashionistar.catalog.services import VariantSpec, product_create
from fashionistar_dev.demo import (
    DEMO_ADMIN_PASSWORD,
    DEMO_ADMIN_USERNAME,
    DEMO_CATALOG,
    DEMO_PASSWORD,
    DEMO_STOCK_PER_VARIANT,
    DEMO_USERNAME,
)


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


@transaction.atomic
def demo_load(
    *, stock_per_variant: int = DEMO_STOCK_PER_VARIANT, with_admin: bool = False
) -> dict[str, int]:
    """Create the demo customer and catalog where missing.

    Args:
        stock_per_variant: Opening stock of each new variant (load runs want a deep stock).
        with_admin: Also create the admin login that ``make serve`` publishes on its home page.

    Returns:
        How many rows of each kind were created.
    """
    user_model = get_user_model()
    created = {"users": 0, "categories": 0, "products": 0}
    if not user_model.objects.filter(username=DEMO_USERNAME).exists():
        user_model.objects.create_user(
            username=DEMO_USERNAME, email="demo@fashionistar.example", password=DEMO_PASSWORD
        )
        created["users"] += 1
    if with_admin and not user_model.objects.filter(username=DEMO_ADMIN_USERNAME).exists():
        user_model.objects.create_superuser(
            username=DEMO_ADMIN_USERNAME,
            email="admin@fashionistar.example",
            password=DEMO_ADMIN_PASSWORD,
        )
        created["users"] += 1
    for category_slug, products in DEMO_CATALOG.items():
        category, made = Category.objects.get_or_create(
            slug=category_slug, defaults={"name": category_slug.title()}
        )
        created["categories"] += made
        for name, description, price, sizes, colours in products:
            slug = _slug(name)
            if Product.objects.filter(slug=slug).exists():
                continue
            product_create(
                category=category,
                name=name,
                slug=slug,
                description=description,
                price=Decimal(price),
                currency="EUR",
                variants=[
                    VariantSpec(
                        sku=f"{slug}-{size}-{colour}".upper(),
                        size=size,
                        colour=colour,
                        stock=stock_per_variant,
                    )
                    for size in sizes
                    for colour in colours
                ],
            )
            created["products"] += 1
    return created
