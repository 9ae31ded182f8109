"""The synthetic shop's world: its catalogue, names and places, and the shares shoppers are drawn
from (devices, traffic sources, stages, behaviour signals; the hidden reasons' shares belong to
the truth, channel_models/simulator/truth.py)."""

from __future__ import annotations

CATALOGUE = (
    ("Merino crew sweater", "Navy / M", 89.00),
    ("Trail running shoes", "EU 42", 129.00),
    ("Ceramic pour-over set", None, 45.50),
    ("Waxed canvas backpack", "Olive", 149.00),
    ("Linen bed sheets", "Queen", 119.00),
    ("Espresso beans 1 kg", "Dark roast", 32.00),
    ("Wool beanie", "Charcoal", 24.00),
    ("Rain shell jacket", "L", 189.00),
    ("Cast iron skillet", "26 cm", 59.00),
    ("Leather card wallet", "Tan", 39.00),
    ("Noise-cancelling earbuds", None, 229.00),
    ("Yoga mat", "6 mm", 49.00),
)


NAMES = ("Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Dennis", "Barbara", None)


# (country, province, zone, weight); phone numbers only for the US (+1 201, fictional use)
PLACES = (
    ("US", "NY", "America/New_York", 0.26),
    ("US", "FL", "America/New_York", 0.10),
    ("US", "IL", "America/Chicago", 0.16),
    ("US", "TX", "America/Chicago", 0.12),
    ("US", "CO", "America/Denver", 0.07),
    ("US", "CA", "America/Los_Angeles", 0.17),
    ("GB", None, "Europe/London", 0.06),
    ("FR", None, "Europe/Paris", 0.06),
)


DEVICE_SHARES = {"mobile": 0.55, "desktop": 0.35, "tablet": 0.10}


SOURCE_SHARES = {
    "google": 0.28,
    None: 0.12,
    "direct": 0.18,
    "facebook": 0.12,
    "instagram": 0.06,
    "newsletter": 0.10,
    "google-ads cpc": 0.14,
}


STAGE_BY_REASON = {
    "shipping_cost": {"cart": 0.05, "checkout": 0.30, "shipping": 0.55, "payment": 0.10},
    "price": {"cart": 0.30, "checkout": 0.45, "shipping": 0.15, "payment": 0.10},
    "indecision": {"cart": 0.45, "checkout": 0.40, "shipping": 0.10, "payment": 0.05},
    "technical": {"cart": 0.05, "checkout": 0.20, "shipping": 0.15, "payment": 0.60},
    "other": {"cart": 0.25, "checkout": 0.40, "shipping": 0.20, "payment": 0.15},
}


HIGH_INTENT_BY_STAGE = {"cart": 0.10, "checkout": 0.20, "shipping": 0.30, "payment": 0.50}


# reason -> signal kind -> Poisson mean; BACKGROUND is added for everyone (noise)
SIGNAL_RATES = {
    "shipping_cost": {"shipping_page_view": 1.8},
    "price": {"price_sort": 0.8, "discount_filter": 0.6, "coupon_attempt": 0.5},
    "indecision": {"add_remove": 1.0, "comparison_view": 0.8, "product_view": 4.0},
    "technical": {"slow_page": 1.2},
    "other": {},
}


BACKGROUND = {
    "product_view": 2.0,
    "shipping_page_view": 0.3,
    "price_sort": 0.15,
    "add_remove": 0.2,
    "slow_page": 0.1,
    "comparison_view": 0.1,
}
