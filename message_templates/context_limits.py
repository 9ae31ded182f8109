"""What a message may show of a cart and a shopper: the one definition of the worst case.

The webhooks admit these lengths (services/core/events.py takes them from here), the template
checks render every edited template with them (checks.py), and the message context is cut to them
(services/messaging/message_context.py). So whatever a shop may send can be rendered and sent:
a template that passed its checks cannot meet a longer name or a bigger cart at send time.
"""

from __future__ import annotations

from typing import Any

MAX_NAME_CHARS = 40  # a longer first name is left out of messages (greetings fall back to none)
MAX_ITEMS_SHOWN = 10  # cart lines a message lists; `cart.line_count` tells how many there are
MAX_ITEM_TEXT_CHARS = 500  # a product or variant title
MAX_IMAGE_URL_CHARS = 2000
MAX_CART_LINES = 500  # lines a cart may have at all
# The worst-case samples' names, MAX_NAME_CHARS long: one in GSM-7, one that makes an SMS UCS-2.
LONGEST_NAME = "Maximiliana-Alexandra Christodoulou-Bell"
LONGEST_UCS2_NAME = "Zoë-Maximiliana Alexandra Christodoulidi"


def name_for_message(first_name: str | None) -> str | None:
    """The first name as messages greet with it, or None when there is none fit to show."""
    name = " ".join((first_name or "").split())
    return name if 0 < len(name) <= MAX_NAME_CHARS else None


def lines_for_message(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cart lines a message lists: the first MAX_ITEMS_SHOWN."""
    return items[:MAX_ITEMS_SHOWN]
