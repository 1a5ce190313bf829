"""Exercise 13, reference solution: the master found through Sentinel, Redis errors a 503."""

from __future__ import annotations

import redis

from fashionistar.kernel.errors import ApplicationError
from fashionistar.kernel.redis_client import redis_client


class CartUnavailable(ApplicationError):
    """No Redis master answers (a failover under way): the client should retry in a moment."""

    status_code = 503
    code = "cart_unavailable"


def cart_client() -> redis.Redis:
    """Return the Redis client the carts use: the shop's, which follows a failover.

    With ``REDIS_SENTINELS`` set it asks the Sentinels for the master each time it opens a
    connection, so after a failover its next connection goes to the new master.

    Returns:
        The client.
    """
    return redis_client()


def cart_add(*, client: redis.Redis, user_id: int, variant_id: int, quantity: int) -> int:
    """Add units of a variant to a customer's cart.

    Args:
        client: The client, from :func:`cart_client`.
        user_id: The customer.
        variant_id: The variant.
        quantity: Units to add.

    Returns:
        The units of that variant in the cart now.

    Raises:
        CartUnavailable: No master answered (the client's own retries included).
    """
    try:
        return int(client.hincrby(f"cart:{user_id}", str(variant_id), quantity))
    except (redis.ConnectionError, redis.TimeoutError) as error:
        raise CartUnavailable("The cart is unavailable; retry in a moment.") from error
