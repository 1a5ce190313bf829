"""Exercise 10: a service that can be called twice, at the same time, safely."""

from __future__ import annotations

from fashionistar.catalog.models import Category


def category_ensure(*, slug: str, name: str) -> tuple[Category, bool]:
    """Return the category with this slug, creating it when it does not exist yet.

    Two requests may call it at the same moment with the same slug (an import job retried by
    its queue, two admins): both must get the one category, and exactly one of them creates it.

    Args:
        slug: The category's unique slug.
        name: Its name, used only when it is created.

    Returns:
        The category and whether this call created it.
    """
    # TODO: check-then-act. Another transaction can insert between the check and the insert.
    if Category.objects.filter(slug=slug).exists():
        return Category.objects.get(slug=slug), False
    return Category.objects.create(slug=slug, name=name), True
