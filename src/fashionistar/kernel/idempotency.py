"""What every idempotent write shares: the ``Idempotency-Key`` rules and their errors.

They follow the IETF draft ``draft-ietf-httpapi-idempotency-key-header``: a malformed key is
``400``, a key used before with another request ``422``, a key whose first request still runs
``409``. Paying an order (:mod:`fashionistar.payments.services`) requires a key; placing one
(:mod:`fashionistar.orders.services`) takes one when the client sends it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fashionistar.kernel.errors import ApplicationError

MAX_KEY_LENGTH = 255


class IdempotencyKeyMissing(ApplicationError):
    """The request has no ``Idempotency-Key`` and the operation needs one."""

    status_code = 400
    code = "idempotency_key_missing"


class IdempotencyKeyInvalid(ApplicationError):
    """The key is empty, longer than 255 characters, or has non-printable characters."""

    status_code = 400
    code = "idempotency_key_invalid"


class IdempotencyKeyReused(ApplicationError):
    """The key was used before with another request."""

    status_code = 422
    code = "idempotency_key_reused"


class IdempotencyKeyInFlight(ApplicationError):
    """The first request with this key is still running: retry later."""

    status_code = 409
    code = "idempotency_key_in_flight"


def key_validate(key: str) -> str:
    """Check an ``Idempotency-Key``'s form.

    Args:
        key: The header's value.

    Returns:
        The key.

    Raises:
        IdempotencyKeyInvalid: Empty, over 255 characters, or not printable ASCII.
    """
    if not key or len(key) > MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        raise IdempotencyKeyInvalid(
            f"An Idempotency-Key is 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            extra={"length": len(key)},
        )
    return key


def canonical_fingerprint(document: dict[str, Any]) -> str:
    """Return the sha256 of a request's canonical JSON (sorted keys, no spaces).

    The same request always has the same fingerprint, whatever order the client wrote its
    fields in.

    Args:
        document: What identifies the request: its body, and the ids its URL holds.

    Returns:
        64 hex digits.

    Raises:
        TypeError: A value is not plain JSON.
        ValueError: A float is not finite.
    """
    canonical = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
