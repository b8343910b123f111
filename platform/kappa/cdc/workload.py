"""A deterministic workload of inserts, updates and deletes on the source database (`kappa cdc load`).

For a seed and a starting state, the same statements run in the same order: the generator keeps its
own model of the keys (read from the tables at the start) and draws every choice from one seeded
random stream. Timestamps are the start time plus one millisecond per change, so they too follow
from the arguments. Changes are committed in transactions of `batch` statements, optionally paced to
a rate. Orders reference customers and products; deleting a customer deletes its orders
(ON DELETE CASCADE), which the model follows.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

COUNTRIES = ("ES", "MX", "AR", "CO", "CL", "PE", "US", "DE", "FR", "BR")
TIERS = ("standard", "silver", "gold")
CATEGORIES = ("electronics", "books", "home", "sports", "toys", "fashion")
NEXT_STATUS = {"pending": ("paid", "cancelled"), "paid": ("shipped", "cancelled"), "shipped": ("delivered",)}

# (operation, weight): orders change most, customers and products now and then
MIX = (("insert_order", 34), ("advance_order", 26), ("delete_order", 5), ("insert_customer", 8),
       ("update_customer", 8), ("delete_customer", 1), ("insert_product", 4), ("update_product", 12))


@dataclass
class Counts:
    inserts: int = 0
    updates: int = 0
    deletes: int = 0
    cascaded: int = 0  # orders deleted with their customer
    by_table: dict[str, int] = field(default_factory=dict)
    by_table_kind: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def statements(self) -> int:
        return self.inserts + self.updates + self.deletes

    def add(self, kind: str, table: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        self.by_table[table] = self.by_table.get(table, 0) + 1
        self.by_table_kind[kind, table] = self.by_table_kind.get((kind, table), 0) + 1

    def by_kind(self, kind: str, table: str) -> int:
        return self.by_table_kind.get((kind, table), 0)


@dataclass
class Model:
    """The keys the generator knows, and what it needs of each row to make a valid next change."""

    customers: list[int]
    products: dict[int, Decimal]  # id -> price
    orders: dict[int, tuple[int, str]]  # id -> (customer_id, status)

    def next_id(self, table: str) -> int:
        keys = {"customers": self.customers, "products": self.products, "orders": self.orders}[table]
        return max(keys, default=0) + 1


def load_model(cur: Any) -> Model:
    cur.execute("SELECT id FROM public.customers ORDER BY id")
    customers = [r[0] for r in cur.fetchall()]
    cur.execute("SELECT id, price FROM public.products ORDER BY id")
    products = {r[0]: r[1] for r in cur.fetchall()}
    cur.execute("SELECT id, customer_id, status FROM public.orders ORDER BY id")
    orders = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
    return Model(customers, products, orders)


class Workload:
    def __init__(self, cur: Any, model: Model, seed: int, start: datetime) -> None:
        self.cur, self.model, self.rng = cur, model, random.Random(seed)
        self.start, self.step = start, 0
        self.counts = Counts()
        # the next ids are taken once, then counted up: deleting the newest row never reuses its key
        self.ids = {t: model.next_id(t) for t in ("customers", "products", "orders")}

    def now(self) -> datetime:
        self.step += 1
        return self.start + timedelta(milliseconds=self.step)

    def new_id(self, table: str) -> int:
        value = self.ids[table]
        self.ids[table] += 1
        return value

    def run_one(self) -> None:
        m = self.model
        if not m.customers:
            return self.insert_customer()
        if not m.products:
            return self.insert_product()
        ops, weights = zip(*MIX, strict=True)
        op = self.rng.choices(ops, weights)[0]
        if op in ("advance_order", "delete_order") and not m.orders:
            op = "insert_order"
        getattr(self, op)()
        return None

    def insert_customer(self) -> None:
        i, ts = self.new_id("customers"), self.now()
        self.cur.execute("INSERT INTO public.customers (id, email, name, country, tier, created_at, updated_at) "
                         "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                         (i, f"customer{i}@example.com", f"Customer {i}", self.rng.choice(COUNTRIES),
                          self.rng.choice(TIERS), ts, ts))
        self.model.customers.append(i)
        self.counts.add("inserts", "customers")

    def update_customer(self) -> None:
        i = self.rng.choice(self.model.customers)
        self.cur.execute("UPDATE public.customers SET tier = %s, country = %s, updated_at = %s WHERE id = %s",
                         (self.rng.choice(TIERS), self.rng.choice(COUNTRIES), self.now(), i))
        self.counts.add("updates", "customers")

    def delete_customer(self) -> None:
        i = self.rng.choice(self.model.customers)
        self.cur.execute("DELETE FROM public.customers WHERE id = %s", (i,))
        self.model.customers.remove(i)
        gone = [o for o, (c, _s) in self.model.orders.items() if c == i]
        for o in gone:
            del self.model.orders[o]
        self.counts.add("deletes", "customers")
        self.counts.cascaded += len(gone)

    def insert_product(self) -> None:
        i, ts = self.new_id("products"), self.now()
        price = Decimal(self.rng.randint(199, 99_999)) / 100
        self.cur.execute("INSERT INTO public.products (id, sku, name, category, price, stock, active, updated_at) "
                         "VALUES (%s, %s, %s, %s, %s, %s, TRUE, %s)",
                         (i, f"SKU-{i:06d}", f"Product {i}", self.rng.choice(CATEGORIES), price,
                          self.rng.randint(0, 500), ts))
        self.model.products[i] = price
        self.counts.add("inserts", "products")

    def update_product(self) -> None:
        i = self.rng.choice(sorted(self.model.products))
        price = (self.model.products[i] * Decimal(self.rng.choice((90, 95, 105, 110))) / 100).quantize(Decimal("0.01"))
        self.cur.execute("UPDATE public.products SET price = %s, stock = %s, active = %s, updated_at = %s "
                         "WHERE id = %s", (price, self.rng.randint(0, 500), self.rng.random() > 0.05, self.now(), i))
        self.model.products[i] = price
        self.counts.add("updates", "products")

    def insert_order(self) -> None:
        i, ts = self.new_id("orders"), self.now()
        customer = self.rng.choice(self.model.customers)
        product = self.rng.choice(sorted(self.model.products))
        quantity = self.rng.randint(1, 5)
        unit = self.model.products[product]
        self.cur.execute("INSERT INTO public.orders (id, customer_id, product_id, quantity, unit_price, total, "
                         "status, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, 'pending', %s, %s)",
                         (i, customer, product, quantity, unit, unit * quantity, ts, ts))
        self.model.orders[i] = (customer, "pending")
        self.counts.add("inserts", "orders")

    def advance_order(self) -> None:
        open_orders = sorted(o for o, (_c, s) in self.model.orders.items() if s in NEXT_STATUS)
        if not open_orders:
            return self.insert_order()
        i = self.rng.choice(open_orders)
        customer, status = self.model.orders[i]
        new = self.rng.choice(NEXT_STATUS[status])
        self.cur.execute("UPDATE public.orders SET status = %s, updated_at = %s WHERE id = %s", (new, self.now(), i))
        self.model.orders[i] = (customer, new)
        self.counts.add("updates", "orders")
        return None

    def delete_order(self) -> None:
        i = self.rng.choice(sorted(self.model.orders))
        self.cur.execute("DELETE FROM public.orders WHERE id = %s", (i,))
        del self.model.orders[i]
        self.counts.add("deletes", "orders")


def run(conn: Any, *, changes: int, seed: int = 42, batch: int = 100, rate: float | None = None,
        start: datetime | None = None, progress: Callable[[int], None] = lambda _n: None) -> Counts:
    """Run `changes` statements (each an insert, update or delete), committing every `batch`; at most
    `rate` statements per second when given."""
    start = start or datetime.now(UTC).replace(microsecond=0)
    with conn.cursor() as cur:
        work = Workload(cur, load_model(cur), seed, start)
        conn.commit()
        began = time.monotonic()
        done = 0
        while done < changes:
            for _ in range(min(batch, changes - done)):
                work.run_one()
                done += 1
            conn.commit()
            progress(done)
            if rate:
                ahead = done / rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
    return work.counts
