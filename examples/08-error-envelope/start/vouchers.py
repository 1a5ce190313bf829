"""Exercise 08: a voucher check whose every refusal is a clear 4xx in the shop's error shape."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


@dataclass(frozen=True)
class Voucher:
    """A percentage off an order of at least ``minimum``."""

    percent: int
    minimum: Decimal


VOUCHERS = {"SPRING10": Voucher(percent=10, minimum=Decimal("50.00"))}
CENT = Decimal("0.01")


def voucher_apply(*, code: str, total: Decimal) -> Decimal:
    """Return the discount a voucher gives on an order's total.

    Args:
        code: The voucher's code.
        total: The order's total.

    Returns:
        The discount.
    """
    voucher = VOUCHERS[code]
    if total < voucher.minimum:
        raise ValueError(f"this voucher needs an order of {voucher.minimum} or more")
    return (total * voucher.percent / 100).quantize(CENT)


# TODO: every failure, a bug too, becomes a 400 with a body of its own shape.
class VoucherCheckApi(APIView):
    """``POST vouchers/check`` with ``{"code", "total"}``: the discount it gives."""

    def post(self, request: Request) -> Response:
        try:
            code = request.data["code"]
            total = Decimal(request.data["total"])
            discount = voucher_apply(code=code, total=total)
        except Exception as error:  # noqa: BLE001
            return Response({"error": str(error)}, status=400)
        return Response(
            {"code": code, "discount": str(discount), "total_after": str(total - discount)}
        )
