"""SQLite storage for the reference shop: products, categories and orders, with proper indexes."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from typing import Any

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price_cents INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS products_by_category ON products (category, id);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer TEXT NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products (id),
    qty INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (customer, id);
"""


class Store:
    """One connection per thread; writes serialized by a lock (SQLite allows one writer)."""

    def __init__(self, path: str | None = None) -> None:
        if path is None:
            self._dir = tempfile.mkdtemp(prefix="loadorch-shop-")
            path = os.path.join(self._dir, "shop.db")
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._conn().executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=OFF")
            self._local.conn = conn
        return conn

    @classmethod
    def seeded(cls, products: int) -> Store:
        """A store with products 1..n (deterministic names, categories and prices)."""
        store = cls()
        categories = ("books", "games", "toys")
        with store._write_lock:
            store._conn().executemany(
                "INSERT INTO products (name, category, price_cents) VALUES (?, ?, ?)",
                [(f"product-{i}", categories[i % 3], 100 + 7 * i) for i in range(1, products + 1)],
            )
        return store

    def list_products(self, category: str | None, after: int, limit: int) -> list[dict[str, Any]]:
        if category is None:
            rows = self._conn().execute("SELECT * FROM products WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
        else:
            rows = self._conn().execute(
                "SELECT * FROM products WHERE category = ? AND id > ? ORDER BY id LIMIT ?", (category, after, limit)
            )
        return [dict(r) for r in rows]

    def get_product(self, product_id: int) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT * FROM products WHERE id = ?", (product_id,)).fetchone()
        return dict(row) if row else None

    def create_product(self, name: str, category: str, price_cents: int) -> dict[str, Any]:
        with self._write_lock:
            cur = self._conn().execute(
                "INSERT INTO products (name, category, price_cents) VALUES (?, ?, ?)", (name, category, price_cents)
            )
        return {"id": cur.lastrowid, "name": name, "category": category, "price_cents": price_cents}

    def categories(self) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT category AS name, COUNT(*) AS products FROM products GROUP BY category ORDER BY category"
        )
        return [dict(r) for r in rows]

    def create_order(self, customer: str, product_id: int, qty: int) -> dict[str, Any] | None:
        with self._write_lock:
            conn = self._conn()
            if conn.execute("SELECT 1 FROM products WHERE id = ?", (product_id,)).fetchone() is None:
                return None
            cur = conn.execute(
                "INSERT INTO orders (customer, product_id, qty) VALUES (?, ?, ?)", (customer, product_id, qty)
            )
        return {"id": cur.lastrowid, "customer": customer, "product_id": product_id, "qty": qty}

    def get_order(self, order_id: int) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        return dict(row) if row else None

    def counts(self) -> dict[str, int]:
        conn = self._conn()
        return {
            "products": conn.execute("SELECT COUNT(*) FROM products").fetchone()[0],
            "orders": conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0],
        }
