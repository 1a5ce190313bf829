import logging

from django.db.models import F

from fashionistar.inventory.models import Stock

logger = logging.getLogger(__name__)


# TODO: type hints, keyword-only arguments and a Google-style docstring; a log line whose
# message is the same for every variant, with the ids and numbers as fields.
def stock_adjust(variant_id, delta, reason):
    Stock.objects.filter(variant_id=variant_id).update(quantity=F("quantity") + delta)
    quantity = Stock.objects.get(variant_id=variant_id).quantity
    logger.info(f"stock of variant {variant_id} changed by {delta} ({reason}), now {quantity}")
    return quantity
