"""Group an export's purchase rows into orders that each lie within one warehouse session.

REES46 has no order id. Its ``user_session`` is not a warehouse session: REES46 starts a new one
only after "a long pause", and one ``user_session`` can even carry two ``user_id``\\ s. Staging
sessionizes per user with a 30-minute inactivity gap, and the warehouse requires every order to
complete inside one session (``assert_order_completed_in_one_session``). So one order is the
purchase rows of one (``user_id``, ``user_session``) that follow each other within the session
gap: two rows at most ``gap`` apart have no longer pause between them, whatever else the user
did meanwhile, so staging puts them, and every row chained to them, in one session. A purchase
more than ``gap`` after (or before) the order's rows starts a new order. A purchase that is
itself quarantined never joins or extends an order: staging drops it from the sessions, so it
cannot hold two purchases together either.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

ORDER_ID_PREFIX = "rees46-"


@functools.lru_cache(maxsize=65_536)
def order_id_for(user_session: str, user_id: str, first_ms: int | None) -> str:
    """Deterministic order id: the (user, session) and the time of the order's first row.

    Stable across re-imports of the same rows, and unique per order even when one
    ``user_session`` holds several orders or several users.
    """
    key = f"{user_session}\0{user_id}\0{'' if first_ms is None else first_ms}"
    return ORDER_ID_PREFIX + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


@dataclass(slots=True)
class _OpenOrder:
    order_id: str
    earliest_ms: int
    latest_ms: int


class OrderGrouper:
    """The order each accepted purchase row belongs to, read in file order.

    Only the latest order of each (user, session) stays open: exports are in time order, so an
    earlier one can only be reached by rows out of order by more than the gap (they start an
    order of their own, each still inside one session).
    """

    def __init__(self, gap_minutes: int) -> None:
        if gap_minutes <= 0:
            raise ValueError(f"gap_minutes must be > 0, got {gap_minutes}")
        self.gap_ms = gap_minutes * 60_000
        self._open: dict[tuple[str, str], _OpenOrder] = {}

    def order_of(self, user_session: str, user_id: str, epoch_ms: int) -> str:
        """The id of the order this purchase row (at ``epoch_ms``) is a line of."""
        key = (user_session, user_id)
        order = self._open.get(key)
        if order is None or not (
            order.earliest_ms - self.gap_ms <= epoch_ms <= order.latest_ms + self.gap_ms
        ):
            order = _OpenOrder(order_id_for(user_session, user_id, epoch_ms), epoch_ms, epoch_ms)
            self._open[key] = order
        else:
            order.earliest_ms = min(order.earliest_ms, epoch_ms)
            order.latest_ms = max(order.latest_ms, epoch_ms)
        return order.order_id

    @property
    def open_orders(self) -> int:
        """(user, session) pairs seen with a purchase: the memory this grouping holds."""
        return len(self._open)
