"""Demo data for ``make serve`` and the workshop: small, fixed, loaded idempotently."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "fashionistar-demo"  # noqa: S105 - a published demo login, not a secret


@transaction.atomic
def demo_load() -> dict[str, int]:
    """Create the demo customer if missing.

    Returns:
        How many rows of each kind were created.
    """
    user_model = get_user_model()
    _, created = user_model.objects.get_or_create(
        username=DEMO_USERNAME, defaults={"email": "demo@fashionistar.example"}
    )
    if created:
        user = user_model.objects.get(username=DEMO_USERNAME)
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return {"users": int(created)}
