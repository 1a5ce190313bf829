"""Exercise 10, reference solution: the unique constraint decides, not a look-up."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from fashionistar.catalog.models import Category


def category_ensure(*, slug: str, name: str) -> tuple[Category, bool]:
    """Return the category with this slug, creating it when it does not exist yet.

    The insert is tried first, in a savepoint: the unique constraint on ``slug`` lets exactly
    one concurrent insert through; the others wait for it, fail, roll back their savepoint only
    (the caller's transaction goes on) and read the winner's row.

    Args:
        slug: The category's unique slug.
        name: Its name, used only when it is created.

    Returns:
        The category and whether this call created it.
    """
    try:
        with transaction.atomic():
            return Category.objects.create(slug=slug, name=name), True
    except IntegrityError:
        return Category.objects.get(slug=slug), False
