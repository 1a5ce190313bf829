"""Exercise 08, reference solution: domain errors, shape validation, and no blanket except."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fashionistar.kernel.errors import ApplicationError


@dataclass(frozen=True)
class Voucher:
    """A percentage off an order of at least ``minimum``."""

    percent: int
    minimum: Decimal


VOUCHERS = {"SPRING10": Voucher(percent=10, minimum=Decimal("50.00"))}
CENT = Decimal("0.01")


class VoucherUnknown(ApplicationError):
    """No voucher has this code."""

    status_code = 404
    code = "voucher_unknown"


class VoucherMinimumNotReached(ApplicationError):
    """The order's total is below what the voucher asks for; ``extra["minimum"]`` says it."""

    status_code = 422
    code = "voucher_minimum_not_reached"


def voucher_apply(*, code: str, total: Decimal) -> Decimal:
    """Return the discount a voucher gives on an order's total.

    Args:
        code: The voucher's code.
        total: The order's total.

    Returns:
        The discount.

    Raises:
        VoucherUnknown: No voucher has this code.
        VoucherMinimumNotReached: The total is below the voucher's minimum.
    """
    voucher = VOUCHERS.get(code)
    if voucher is None:
        raise VoucherUnknown("No voucher has this code.", extra={"code": code})
    if total < voucher.minimum:
        raise VoucherMinimumNotReached(
            f"This voucher needs an order of {voucher.minimum} or more.",
            extra={"minimum": str(voucher.minimum)},
        )
    return (total * voucher.percent / 100).quantize(CENT)


class VoucherCheckApi(APIView):
    """``POST vouchers/check`` with ``{"code", "total"}``: the discount it gives."""

    class InputSerializer(serializers.Serializer[Any]):
        """The shape and types; the rules are the service's."""

        code = serializers.CharField(max_length=32)
        total = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=CENT)

    def post(self, request: Request) -> Response:
        """Check a voucher against a total.

        Bad JSON, a missing or wrong field and a refused voucher raise; the shop's exception
        handler answers each in the error shape. A bug is not caught here: it is a 500.

        Args:
            request: The request.

        Returns:
            The code, the discount and the total after it.
        """
        serializer = VoucherCheckApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        code, total = serializer.validated_data["code"], serializer.validated_data["total"]
        discount = voucher_apply(code=code, total=total)
        return Response(
            {"code": code, "discount": str(discount), "total_after": str(total - discount)}
        )
