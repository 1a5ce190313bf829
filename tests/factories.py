"""Small builders for test data, through the real services."""

from __future__ import annotations

import itertools
from decimal import Decimal

from fashionistar.accounts.models import User
from fashionistar.catalog.models import Category, Product, Variant
from fashionistar.catalog.services import VariantSpec, product_create

_sequence = itertools.count(1)


def make_user(username: str | None = None, password: str = "a-long-passphrase") -> User:
    name = username or f"user{next(_sequence)}"
    return User.objects.create_user(username=name, email=f"{name}@example.com", password=password)


def make_product(
    *,
    name: str | None = None,
    price: str = "50.00",
    currency: str = "EUR",
    stock: int = 10,
    sizes: tuple[str, ...] = ("M",),
    category: str = "dresses",
) -> Product:
    number = next(_sequence)
    name = name or f"Product {number}"
    slug = f"{name.lower().replace(' ', '-')}-{number}"
    cat, _ = Category.objects.get_or_create(slug=category, defaults={"name": category.title()})
    return product_create(
        category=cat,
        name=name,
        slug=slug,
        price=Decimal(price),
        currency=currency,
        variants=[
            VariantSpec(sku=f"{slug}-{size}".upper(), size=size, colour="black", stock=stock)
            for size in sizes
        ],
    )


def variant_of(product: Product, index: int = 0) -> Variant:
    return list(product.variants.order_by("pk"))[index]
