"""Exercise 13: shopping carts in Redis that live through a failover of the Redis master."""

from __future__ import annotations

import redis
from django.conf import settings

from fashionistar.kernel.errors import ApplicationError


class CartUnavailable(ApplicationError):
    """No Redis master answers (a failover under way): the client should retry in a moment."""

    status_code = 503
    code = "cart_unavailable"


# TODO: this client talks to the server REDIS_URL names, whichever server is the master now,
# and a Redis error reaches the caller as it is.
def cart_client() -> redis.Redis:
    """Return the Redis client the carts use.

    Returns:
        The client.
    """
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1)


def cart_add(*, client: redis.Redis, user_id: int, variant_id: int, quantity: int) -> int:
    """Add units of a variant to a customer's cart.

    Args:
        client: The client, from :func:`cart_client`.
        user_id: The customer.
        variant_id: The variant.
        quantity: Units to add.

    Returns:
        The units of that variant in the cart now.
    """
    return client.hincrby(f"cart:{user_id}", str(variant_id), quantity)
