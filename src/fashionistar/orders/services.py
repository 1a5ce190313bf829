"""Order writes: place, pay, cancel, ship. Each entry service owns its transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import DecimalField
from django.utils import timezone

from fashionistar.accounts.models import User
from fashionistar.catalog.models import Variant
from fashionistar.events.bus import publish
from fashionistar.inventory.services import stock_release, stock_reserve
from fashionistar.kernel.errors import ApplicationError, NotFound
from fashionistar.kernel.idempotency import (
    IdempotencyKeyReused,
    canonical_fingerprint,
    key_validate,
)
from fashionistar.orders.events import OrderPlaced
from fashionistar.orders.models import ALLOWED_TRANSITIONS, Order, OrderLine, OrderStatus
from fashionistar.orders.selectors import order_get

MAX_LINES = 50
MAX_QUANTITY = 100


class InvalidOrder(ApplicationError):
    """The order asks for something the shop cannot sell as asked."""

    code = "invalid_order"


class InvalidTransition(ApplicationError):
    """The order's status does not allow this step."""

    status_code = 409
    code = "invalid_transition"


@dataclass(frozen=True)
class OrderItem:
    """One line a customer asks for.

    Attributes:
        variant_id: The variant.
        quantity: Units, 1 to ``MAX_QUANTITY``.
    """

    variant_id: int
    quantity: int


def _quantities(items: Sequence[OrderItem]) -> Counter[int]:
    if not items:
        raise InvalidOrder("An order needs at least one item.")
    if len(items) > MAX_LINES:
        raise InvalidOrder(f"An order has at most {MAX_LINES} items.")
    quantities: Counter[int] = Counter()
    for item in items:
        if not 1 <= item.quantity <= MAX_QUANTITY:
            raise InvalidOrder(
                f"Quantity must be between 1 and {MAX_QUANTITY}.",
                extra={"variant_id": item.variant_id, "quantity": item.quantity},
            )
        quantities[item.variant_id] += item.quantity
    return quantities


def _largest_total() -> Decimal:
    """The largest total the order's ``numeric`` column holds."""
    field = cast("DecimalField[Any, Any]", Order._meta.get_field("total"))
    places = field.decimal_places
    return Decimal(10) ** (field.max_digits - places) - Decimal(1).scaleb(-places)


def _as_selected(order: Order, *, lines: list[OrderLine]) -> None:
    """Give a new order the lines and payments an order selector would prefetch for it.

    Django's own prefetching stores each relation the same way (``prefetch_one_level``): a
    queryset whose results are already there. Answering with what was just written spares
    reading back three queries' worth of rows that this transaction has in hand.

    Args:
        order: The order, just inserted.
        lines: Its lines, inserted, each with its variant and the variant's product.
    """
    cache = vars(order).setdefault("_prefetched_objects_cache", {})
    for name, related in (("lines", lines), ("payments", [])):
        queryset = getattr(order, name).get_queryset()
        queryset._result_cache = related
        queryset._prefetch_done = True
        cache[name] = queryset


# --8<-- [start:order_place]
@transaction.atomic
def order_place(
    *, user: User, items: Sequence[OrderItem], idempotency_key: str | None = None
) -> Order:
    """Place an order: price it, take the stock, all in one transaction.

    Prices come from the catalog at this moment, never from the client. Stock rows are locked
    in primary-key order (``stock_reserve``), so concurrent orders for the last units cannot
    oversell and cannot deadlock.

    Args:
        user: The customer.
        items: What they ask for; lines for the same variant are added up.
        idempotency_key: Stored on the order; a second order of the user's with the same key
            breaks a unique constraint (:func:`order_place_once` turns that into a replay).

    Returns:
        The placed order, with its lines (their variants and products) and payments (none) as
        an order selector prefetches them: it answers without being read back.

    Raises:
        InvalidOrder: No items, too many, a bad quantity, an unknown variant, mixed currencies,
            or a total too large to store.
        OutOfStock: Not enough units left (nothing is written).
        IntegrityError: The user placed an order with this key before.
    """
    quantities = _quantities(items)
    variants = {
        v.pk: v
        # No ORDER BY: Variant's default one follows Product's, dear to compile, for a dict.
        for v in Variant.objects.select_related("product")
        .filter(pk__in=quantities, product__is_active=True)
        .order_by()
    }
    unknown = sorted(set(quantities) - set(variants))
    if unknown:
        raise InvalidOrder("Unknown variants.", extra={"variant_ids": unknown})
    currencies = {v.product.currency for v in variants.values()}
    if len(currencies) != 1:
        raise InvalidOrder("All items of an order must be in one currency.")
    lines = [
        OrderLine(
            variant=variants[variant_id],
            quantity=quantity,
            unit_price=variants[variant_id].product.price,
            line_total=variants[variant_id].product.price * quantity,
        )
        for variant_id, quantity in sorted(quantities.items())
    ]
    total = sum((line.line_total for line in lines), Decimal("0"))
    if total > _largest_total():
        raise InvalidOrder("The order's total is too large.", extra={"total": str(total)})
    order = Order.objects.create(
        user=user,
        currency=currencies.pop(),
        total=total,
        idempotency_key=idempotency_key or "",
        request_fingerprint=items_fingerprint(items=items) if idempotency_key else "",
    )
    for line in lines:
        line.order = order
    OrderLine.objects.bulk_create(lines)
    _as_selected(order, lines=lines)
    stock_reserve(order_id=order.pk, quantities=quantities)
    publish(
        OrderPlaced,
        order_id=order.pk,
        user_id=user.pk,
        total=str(order.total),
        currency=order.currency,
    )  # its handlers enqueue the tasks here: they commit with the order, or not at all
    return order


# --8<-- [end:order_place]


def items_fingerprint(*, items: Sequence[OrderItem]) -> str:
    """Return the fingerprint of an order's request: its items, as the client listed them.

    Args:
        items: What the client asked for.

    Returns:
        64 hex digits.
    """
    return canonical_fingerprint(
        {"items": [{"variant_id": i.variant_id, "quantity": i.quantity} for i in items]}
    )


@dataclass(frozen=True)
class OrderPlacement:
    """The answer to placing an order under an ``Idempotency-Key``.

    Attributes:
        order: The order placed by this request, or by the first one with the key, with its
            lines and payments as the detail endpoint shows them.
        replayed: The key's first request placed it; this one placed nothing.
    """

    order: Order
    replayed: bool = False


# --8<-- [start:order_place_once]
def order_place_once(
    *, user: User, items: Sequence[OrderItem], idempotency_key: str | None
) -> OrderPlacement:
    """Place an order at most once per ``Idempotency-Key``; without a key, just place it.

    A client whose answer was lost (the connection broke after the commit) retries with the
    same key and gets the order it placed, not a second one. The unique constraint on
    ``(user, idempotency_key)`` decides: a concurrent retry waits on the first one's insert
    and then finds its order. A first request that failed (out of stock) placed nothing, so
    its retry runs again. The replay is the order as it is now (paid since, perhaps), not a
    stored copy of the first answer.

    Args:
        user: The customer.
        items: What they ask for.
        idempotency_key: The request's ``Idempotency-Key`` header (``None`` when absent).

    Returns:
        The order, and whether it is a replay.

    Raises:
        IdempotencyKeyInvalid: A malformed key (400).
        IdempotencyKeyReused: The key placed another order before (422).
    """
    if idempotency_key is None:
        return OrderPlacement(order_place(user=user, items=items))
    key = key_validate(idempotency_key)
    try:
        return OrderPlacement(order_place(user=user, items=items, idempotency_key=key))
    except IntegrityError:  # order_place's transaction (or savepoint) is rolled back
        placed = Order.objects.filter(user=user, idempotency_key=key).first()
        if placed is None:
            raise  # another constraint broke
    if placed.request_fingerprint != items_fingerprint(items=items):
        raise IdempotencyKeyReused(
            "This Idempotency-Key placed another order; use a new key.",
            extra={"order_id": placed.pk},
        )
    return OrderPlacement(order_get(order_id=placed.pk, user=user), replayed=True)


# --8<-- [end:order_place_once]


def order_lock(*, order_id: int, user: User | None = None) -> Order:
    """Lock one order row (``SELECT ... FOR UPDATE``) for a status change.

    Must be called inside ``transaction.atomic()``.

    Args:
        order_id: The order.
        user: When given, the order must be theirs.

    Returns:
        The locked order.

    Raises:
        NotFound: No such order (or not the user's).
    """
    queryset = Order.objects.select_for_update().filter(pk=order_id)
    if user is not None:
        queryset = queryset.filter(user=user)
    order = queryset.first()
    if order is None:
        raise NotFound("Order not found.", extra={"order_id": order_id})
    return order


def _transition(order: Order, status: OrderStatus) -> Order:
    if status not in ALLOWED_TRANSITIONS[order.status]:
        raise InvalidTransition(
            f"An order that is {order.status} cannot become {status}.",
            extra={"order_id": order.pk, "status": order.status},
        )
    order.status = status
    order.save(update_fields=["status", "updated_at"])
    return order


def order_mark_paid(*, order_id: int) -> Order:
    """Move a placed order to paid. Must be called inside ``transaction.atomic()``.

    Args:
        order_id: The order.

    Returns:
        The paid order.

    Raises:
        NotFound: No such order.
        InvalidTransition: It is not placed.
    """
    return _transition(order_lock(order_id=order_id), OrderStatus.PAID)


@transaction.atomic
def order_cancel(*, order_id: int, user: User) -> Order:
    """Cancel a placed order and give its units back to stock.

    Args:
        order_id: The order.
        user: The customer; it must be their order.

    Returns:
        The cancelled order.

    Raises:
        NotFound: No such order of theirs.
        InvalidTransition: It is no longer placed.
    """
    order = _transition(order_lock(order_id=order_id, user=user), OrderStatus.CANCELLED)
    stock_release(order_id=order.pk)
    return order


@transaction.atomic
def order_ship(*, order_id: int) -> Order:
    """Mark a paid order as shipped (staff).

    Args:
        order_id: The order.

    Returns:
        The shipped order.

    Raises:
        NotFound: No such order.
        InvalidTransition: It is not paid.
    """
    return _transition(order_lock(order_id=order_id), OrderStatus.SHIPPED)


@transaction.atomic
def order_expire_unpaid(*, order_id: int) -> Order:
    """Cancel an order still unpaid when its payment window closes, releasing its stock.

    Idempotent: an order that is paid, cancelled or shipped is left as it is.

    Args:
        order_id: The order.

    Returns:
        The order, as it is now.

    Raises:
        NotFound: No such order.
    """
    order = order_lock(order_id=order_id)
    if order.status != OrderStatus.PLACED:
        return order
    order = _transition(order, OrderStatus.CANCELLED)
    stock_release(order_id=order.pk)
    return order


@transaction.atomic
def order_send_confirmation(*, order_id: int) -> bool:
    """Mail the customer their order, once: the claim and the mail commit together.

    Args:
        order_id: The order.

    Returns:
        Whether a mail was sent now (``False``: it was sent before).
    """
    claimed = Order.objects.filter(pk=order_id, confirmation_sent_at__isnull=True).update(
        confirmation_sent_at=timezone.now()
    )
    if not claimed:
        return False
    order = Order.objects.select_related("user").prefetch_related("lines__variant").get(pk=order_id)
    lines = "\n".join(
        f"{line.quantity} x {line.variant.sku}: {line.line_total} {order.currency}"
        for line in order.lines.all()
    )
    send_mail(
        subject=f"Your Fashionistar order {order.pk}",
        message=f"Thank you for your order.\n\n{lines}\n\nTotal: {order.total} {order.currency}\n",
        from_email=None,
        recipient_list=[order.user.email],
    )  # EMAIL_BACKEND enqueues the delivery: on commit, on the emails queue
    return True
