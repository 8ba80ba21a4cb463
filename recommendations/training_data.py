"""Builds the ML core's TrainingData from the database (placed orders only); ids are primary keys."""

from datetime import datetime

import pandas as pd
from django.db.models import F

from accounts.models import Retailer
from catalog.models import Product
from orders.models import Order, OrderLine
from recommendations.ml.data import PRODUCT_COLUMNS, RETAILER_COLUMNS, TrainingData


def _naive_utc(series: pd.Series) -> pd.Series:
    values = pd.to_datetime(series, utc=True)
    return values.dt.tz_localize(None).astype("datetime64[ns]")


def training_data_from_db(*, cutoff: datetime | None = None, retailer_id: int | None = None) -> TrainingData:
    """Placed orders up to `cutoff` (all when None), of one retailer when `retailer_id` is given."""
    lines = OrderLine.objects.filter(order__status=Order.Status.PLACED)
    if cutoff is not None:
        lines = lines.filter(order__placed_at__lte=cutoff)
    if retailer_id is not None:
        lines = lines.filter(order__retailer_id=retailer_id)
    interactions = pd.DataFrame.from_records(
        lines.values_list("order__retailer_id", "order_id", "product_id", "order__placed_at", "quantity"),
        columns=["retailer", "order", "product", "ts", "quantity"],
    )
    interactions["ts"] = _naive_utc(interactions["ts"])

    products = pd.DataFrame.from_records(
        Product.objects.values_list(
            "id", "name", "description", F("category__name"), F("vendor__name"), "unit_price", "created_at"
        ),
        columns=["product", "name", "description", "category", "vendor", "price", "first_seen"],
    ).set_index("product")
    products[["name", "description", "category", "vendor"]] = (
        products[["name", "description", "category", "vendor"]].fillna("").astype(str)
    )
    products["price"] = products["price"].astype("float64")
    products["first_seen"] = _naive_utc(products["first_seen"])

    retailers = pd.DataFrame.from_records(
        Retailer.objects.values_list("id", "segment", "region"), columns=["retailer", *RETAILER_COLUMNS]
    ).set_index("retailer")
    return TrainingData(interactions, products[PRODUCT_COLUMNS], retailers.fillna("").astype(str))
