"""Storage for the reference shop: products, categories and orders, with proper indexes.

SQLite by default (nothing to install); PostgreSQL through `store_pg` with the same schema. Every
statement goes through `_rows`/`_insert`, which count the queries of the current request (per thread)
for the `Server-Timing: db;count=N` response header.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from typing import Any

from loadorch import tempdirs

# A JSON object at the shop's HTTP edge, any JSON value per key: what a client sends (untrusted: read field
# by field, a wrong one a 400) and what the API answers (a row, the knobs' state, its OpenAPI document).
ApiJson = dict[str, Any]
Row = ApiJson  # a database row as the shop's API answers it: columns of any type
CATEGORY_NAMES = ("books", "games", "toys", "music", "garden")
AUDIT_ROWS = 80_000  # the large table the db_causes knob reads: big enough that its sort outgrows 4MB of work_mem
AUDIT_TABLE = "CREATE TABLE IF NOT EXISTS audit_log (id INTEGER PRIMARY KEY, ref INTEGER NOT NULL, note TEXT NOT NULL)"
# the db_causes knob's statements, each slow for a known reason: a filter on an unindexed column of a large
# table (a sequential scan that returns nothing), a sort of the whole table (it spills past work_mem), a
# join whose inner side runs once per outer row, a hash join bigger than hash memory and a scan of a table
# that does not fit shared_buffers (the last three as PostgreSQL plans them: store_pg.py PG_CAUSES; here
# statements of the same shape)
CAUSES = {
    "seq_scan": "SELECT COUNT(*) AS n FROM audit_log WHERE note = ?",
    "sort_spill": "SELECT MAX(r) AS n FROM (SELECT row_number() OVER (ORDER BY note) AS r FROM audit_log) AS s",
    "nested_loop": "SELECT COUNT(*) AS n FROM audit_log a WHERE a.ref < 50 AND "
    "(SELECT b.id FROM audit_log b WHERE b.id = a.id + 1 LIMIT 1) IS NOT NULL",
    "hash_spill": "SELECT MAX(length(x.note) + length(y.note)) AS n FROM audit_log x JOIN audit_log y ON y.id = x.id",
    "cold_read": "SELECT COUNT(*) AS n FROM audit_log WHERE note = ? OR ref < 0",
}

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS categories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE
);
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


# connections a finished request thread handed back, kept for the next thread: more are closed. Each HTTP
# connection to the shop is a thread; one database connection each, never given back, held two descriptors per
# client connection (SQLite) or a PostgreSQL backend each (its max_connections) until the shop stopped
IDLE_CONNECTIONS = 64


class Store:
    """The shop's queries, over SQLite: one connection per thread at a time (handed back when its thread
    ends, see `release`), writes serialized by a lock."""

    backend = "sqlite"
    causes = CAUSES  # the db_causes knob's statements

    def __init__(self, path: str | None = None) -> None:
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._pool_lock = threading.Lock()
        self._idle: list[Any] = []  # handed back, ready for the next thread
        self._open_conns: set[Any] = set()  # every connection not closed yet (idle or a thread's)
        self._closed = False
        self._dir: str | None = None  # the temporary folder this store made (removed by `close`)
        self._open(path)

    def _open(self, path: str | None) -> None:
        if path is None:
            self._dir = tempdirs.make("loadorch-shop-")
            path = os.path.join(self._dir, "shop.db")
        self.path = path
        self._conn().executescript(SCHEMA)

    def _connect(self) -> Any:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous=OFF")
        return conn

    @staticmethod
    def _usable(conn: Any) -> bool:
        return True

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._usable(conn):
            return conn
        with self._pool_lock:
            while self._idle:
                conn = self._idle.pop()
                if self._usable(conn):
                    self._local.conn = conn
                    return conn
                self._open_conns.discard(conn)
        conn = self._connect()
        self._local.conn = conn
        with self._pool_lock:
            self._open_conns.add(conn)
        return conn

    def release(self) -> None:
        """The calling thread is done (its HTTP connection ended): its database connection goes back to the
        pool, or is closed if the pool is full or the store closed."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._pool_lock:
            keep = not self._closed and len(self._idle) < IDLE_CONNECTIONS and self._usable(conn)
            if keep:
                self._idle.append(conn)
            else:
                self._open_conns.discard(conn)
        if not keep:
            conn.close()

    def open_connections(self) -> int:
        with self._pool_lock:
            return len(self._open_conns)

    def close(self) -> None:
        """Every connection closed (a thread still in a request closes its own on `release`) and the
        temporary folder removed. Idempotent."""
        with self._pool_lock:
            self._closed = True
            idle, self._idle = self._idle, []
            for conn in idle:
                self._open_conns.discard(conn)
        for conn in idle:
            conn.close()
        self.release()  # the closing thread's own (the one that seeded the store)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # the two primitives every query goes through (PgStore overrides them)
    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        self._count()
        return [dict(r) for r in self._conn().execute(sql, params)]

    def _insert(self, sql: str, params: tuple[Any, ...]) -> int:
        self._count()
        with self._write_lock:
            cur = self._conn().execute(sql, params)
        return int(cur.lastrowid or 0)

    def _seed_rows(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._write_lock:
            self._conn().executemany(sql, rows)

    def _count(self) -> None:
        self._local.queries = getattr(self._local, "queries", 0) + 1

    def begin_request(self) -> None:
        self._local.queries = 0

    def queries(self) -> int:
        """Statements run by this thread since `begin_request`."""
        return int(getattr(self._local, "queries", 0))

    def slow_statement(self, seconds: float) -> None:
        """One statement that takes `seconds` (SQLite has no sleep: the wait happens beside it)."""
        time.sleep(seconds)
        self._rows("SELECT ?", (seconds,))

    def prepare_causes(self, causes: tuple[str, ...] = ()) -> None:
        """The large unindexed table the db_causes knob reads, made once."""
        with self._write_lock:
            self._conn().execute(AUDIT_TABLE)
            if self._conn().execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 0:
                self._conn().execute(
                    "INSERT INTO audit_log (ref, note) WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                    "FROM g WHERE i < ?) SELECT i % 1000, printf('%08x-%d', (i * 2654435761) % 4294967296, i) FROM g",
                    (AUDIT_ROWS,),
                )

    def run_cause(self, cause: str) -> None:
        text = self.causes[cause]
        self._rows(text, ("no such note",) if "?" in text else ())

    @classmethod
    def seeded(cls, products: int, *args: Any) -> Store:
        """A store with the categories and products 1..n (deterministic names, categories and prices)."""
        store = cls(*args)
        store.seed(products)
        return store

    def seed(self, products: int) -> None:
        if self._rows("SELECT COUNT(*) AS n FROM categories")[0]["n"] == 0:
            self._seed_rows("INSERT INTO categories (name) VALUES (?)", [(c,) for c in CATEGORY_NAMES])
        if self._rows("SELECT COUNT(*) AS n FROM products")[0]["n"] == 0:
            categories = ("books", "games", "toys")
            self._seed_rows(
                "INSERT INTO products (name, category, price_cents) VALUES (?, ?, ?)",
                [(f"product-{i}", categories[i % 3], 100 + 7 * i) for i in range(1, products + 1)],
            )

    def list_products(self, category: str | None, after: int, limit: int, n_plus_one: bool = False) -> list[Row]:
        if category is None:
            items = self._rows("SELECT * FROM products WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
        else:
            items = self._rows(
                "SELECT * FROM products WHERE category = ? AND id > ? ORDER BY id LIMIT ?", (category, after, limit)
            )
        if n_plus_one:  # the classic mistake: one more query per row, for data a join would have brought
            for item in items:
                found = self._rows("SELECT id, name FROM categories WHERE name = ?", (item["category"],))
                item["category_id"] = found[0]["id"] if found else None
        return items

    def get_product(self, product_id: int) -> Row | None:
        rows = self._rows("SELECT * FROM products WHERE id = ?", (product_id,))
        return rows[0] if rows else None

    def create_product(self, name: str, category: str, price_cents: int) -> Row:
        new_id = self._insert(
            "INSERT INTO products (name, category, price_cents) VALUES (?, ?, ?)", (name, category, price_cents)
        )
        return {"id": new_id, "name": name, "category": category, "price_cents": price_cents}

    def categories(self) -> list[Row]:
        return self._rows(
            "SELECT category AS name, COUNT(*) AS products FROM products GROUP BY category ORDER BY category"
        )

    def create_order(self, customer: str, product_id: int, qty: int) -> Row | None:
        if not self._rows("SELECT 1 AS found FROM products WHERE id = ?", (product_id,)):
            return None
        new_id = self._insert(
            "INSERT INTO orders (customer, product_id, qty) VALUES (?, ?, ?)", (customer, product_id, qty)
        )
        return {"id": new_id, "customer": customer, "product_id": product_id, "qty": qty}

    def get_order(self, order_id: int) -> Row | None:
        rows = self._rows("SELECT * FROM orders WHERE id = ?", (order_id,))
        return rows[0] if rows else None

    def counts(self) -> dict[str, int]:
        return {
            "products": int(self._rows("SELECT COUNT(*) AS n FROM products")[0]["n"]),
            "orders": int(self._rows("SELECT COUNT(*) AS n FROM orders")[0]["n"]),
        }
