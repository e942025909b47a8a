"""Constants shared by several test modules."""

#: The four feature columns of the cart-abandoner preset, in the data's order.
FEATURES = [
    "avg_order_value",
    "engagement_score",
    "profitability_score",
    "days_since_last_order",
]
