"""Product and user dimensions reconstructed from the events of an export that has none.

REES46 exports carry a product's price, category and brand on every event, but no catalogue or
user table. The warehouse wants daily full extracts (docs/contracts.md §1) so that dbt's SCD2
``dim_products`` records price history. This module keeps, per product, the list of *change
points* — ``(first time seen, attributes)`` each time the observed attributes differ from the
previous observation — and answers "what did the catalogue look like at the end of day D".

Memory is one small record per distinct product and one integer per distinct user, never per
event. History is exact when events arrive in time order (REES46 exports are sorted by
``event_time``). An observation older than the newest one already seen for that product can't be
placed in the history without keeping every event, so it only moves the product's first-seen
time earlier (and becomes its first version when it predates everything seen); such
observations are counted in ``out_of_order`` so the importer can warn.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

ProductAttrs = tuple[str, str, str, str, str]
"""(price, category_l1, category_l2, category_l3, brand) as landing text."""


_TS_FORMAT = "%Y-%m-%d %H:%M:%S"


def format_ts(epoch_ms: int) -> str:
    """Extract timestamp text ``YYYY-MM-DD HH:MM:SS`` (UTC) for an epoch-ms value."""
    return dt.datetime.fromtimestamp(epoch_ms // 1000, tz=dt.UTC).strftime(_TS_FORMAT)


def parse_ts(text: str) -> int:
    """Epoch ms of extract timestamp text (the inverse of :func:`format_ts`)."""
    moment = dt.datetime.strptime(text, _TS_FORMAT).replace(tzinfo=dt.UTC)
    return int(moment.timestamp()) * 1000


@dataclass
class _ProductHistory:
    created_ms: int
    last_seen_ms: int
    change_ms: list[int] = field(default_factory=list)
    change_attrs: list[ProductAttrs] = field(default_factory=list)

    def prepend(self, epoch_ms: int, attrs: ProductAttrs) -> None:
        """Add a state observed before every change point so far."""
        if attrs == self.change_attrs[0]:
            self.change_ms[0] = epoch_ms
        else:
            self.change_ms.insert(0, epoch_ms)
            self.change_attrs.insert(0, attrs)
        self.created_ms = min(self.created_ms, epoch_ms)


@dataclass(frozen=True)
class ProductVersion:
    """A product as the end-of-day extract shows it."""

    product_id: str
    attrs: ProductAttrs
    created_ms: int
    updated_ms: int


class ObservedCatalog:
    """Products and users as seen in events so far, queryable as of any moment."""

    def __init__(self) -> None:
        self._products: dict[str, _ProductHistory] = {}
        self._users: dict[str, int] = {}
        self._product_order: list[tuple[int, str]] | None = None
        self._user_order: list[tuple[int, str]] | None = None
        self.out_of_order = 0

    @property
    def product_count(self) -> int:
        return len(self._products)

    @property
    def user_count(self) -> int:
        return len(self._users)

    def observe_user(self, user_id: str, epoch_ms: int) -> None:
        """Record that ``user_id`` was active at ``epoch_ms`` (keeps the first time seen)."""
        first = self._users.get(user_id)
        if first is None or epoch_ms < first:
            self._users[user_id] = epoch_ms
            self._user_order = None

    def observe_product(self, product_id: str, epoch_ms: int, attrs: ProductAttrs) -> None:
        """Record the attributes an event showed for ``product_id`` at ``epoch_ms``."""
        self._product_order = None
        history = self._products.get(product_id)
        if history is None:
            self._products[product_id] = _ProductHistory(epoch_ms, epoch_ms, [epoch_ms], [attrs])
            return
        if epoch_ms >= history.last_seen_ms:
            history.last_seen_ms = epoch_ms
            if attrs != history.change_attrs[-1]:
                history.change_ms.append(epoch_ms)
                history.change_attrs.append(attrs)
            return
        self.out_of_order += 1
        if epoch_ms < history.change_ms[0]:
            history.prepend(epoch_ms, attrs)

    def seed_product(
        self, product_id: str, created_ms: int, updated_ms: int, attrs: ProductAttrs
    ) -> None:
        """Start from a product as an earlier import's extract left it (before this run)."""
        self._product_order = None
        history = self._products.get(product_id)
        if history is None:
            self._products[product_id] = _ProductHistory(
                created_ms, updated_ms, [updated_ms], [attrs]
            )
            return
        if updated_ms < history.change_ms[0]:
            history.prepend(updated_ms, attrs)
        history.created_ms = min(history.created_ms, created_ms)

    def products_as_of(self, end_ms: int) -> Iterator[ProductVersion]:
        """Every product first seen before ``end_ms``, with its latest attributes by then.

        ``updated_ms`` is when those attributes were first observed, ``created_ms`` when the
        product was first seen at all. Ordered by (first seen, id): the same products in the
        same order however the input was split into files or calls.
        """
        if self._product_order is None:
            self._product_order = sorted((h.created_ms, p) for p, h in self._products.items())
        for created_ms, product_id in self._product_order:
            if created_ms >= end_ms:
                return
            history = self._products[product_id]
            # max(): a seeded product's first change point can lie after its creation
            index = max(bisect.bisect_left(history.change_ms, end_ms) - 1, 0)
            yield ProductVersion(
                product_id,
                history.change_attrs[index],
                created_ms,
                history.change_ms[index],
            )

    def users_as_of(self, end_ms: int) -> Iterator[tuple[str, int]]:
        """``(user_id, first_seen_ms)`` of users first seen before ``end_ms``, by first seen."""
        if self._user_order is None:
            self._user_order = sorted((ms, u) for u, ms in self._users.items())
        for first_ms, user_id in self._user_order:
            if first_ms >= end_ms:
                return
            yield user_id, first_ms
