"""Demo data for ``make serve``, the docs and the workshop: small, fixed, loaded idempotently."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction

from fashionistar.catalog.models import Category, Product
from fashionistar.catalog.services import VariantSpec, product_create

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "fashionistar-demo"  # noqa: S105 - a published demo login, not a secret

DEMO_CATALOG: dict[str, list[tuple[str, str, str, list[str], list[str]]]] = {
    "dresses": [
        (
            "Linen Summer Dress",
            "Light linen, knee length.",
            "89.00",
            ["S", "M", "L"],
            ["sand", "olive"],
        ),
        ("Silk Evening Dress", "Bias-cut silk.", "249.00", ["S", "M"], ["black"]),
    ],
    "jackets": [
        ("Denim Jacket", "Rigid denim, boxy fit.", "120.00", ["M", "L", "XL"], ["indigo"]),
        ("Wool Overcoat", "Double-faced wool.", "399.00", ["M", "L"], ["camel", "charcoal"]),
    ],
    "shoes": [
        (
            "Leather Loafers",
            "Hand-stitched leather.",
            "159.00",
            ["40", "41", "42", "43"],
            ["brown"],
        ),
        ("Canvas Sneakers", "Organic cotton canvas.", "69.00", ["39", "40", "41", "42"], ["white"]),
    ],
}
DEMO_STOCK_PER_VARIANT = 25


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


@transaction.atomic
def demo_load(*, stock_per_variant: int = DEMO_STOCK_PER_VARIANT) -> dict[str, int]:
    """Create the demo customer and catalog where missing.

    Args:
        stock_per_variant: Opening stock of each new variant (load runs want a deep stock).

    Returns:
        How many rows of each kind were created.
    """
    user_model = get_user_model()
    created = {"users": 0, "categories": 0, "products": 0}
    if not user_model.objects.filter(username=DEMO_USERNAME).exists():
        user_model.objects.create_user(
            username=DEMO_USERNAME, email="demo@fashionistar.example", password=DEMO_PASSWORD
        )
        created["users"] = 1
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
