"""Connection pools and the transactions every request and job runs in.

Three roles, three paths:
- the *owner* (the DATABASE_URL user) owns the schema and runs migrations, nothing else;
- the *app* role (`renewflow_app`) serves requests: it owns no table, cannot bypass row-level
  security, and sees only the rows of the tenant set in its transaction;
- the *service* role (`renewflow_service`) is the separate, explicit path for work that spans
  tenants (the daily sweep, the worker's claims, provisioning tenants). Never used by a request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, LiteralString
from uuid import UUID

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from renewflow.db.errors import DatabaseUnavailable
from renewflow.db.urls import APP_ROLE, SERVICE_ROLE, describe, role_conninfo

Connection = psycopg.Connection[DictRow]

log = logging.getLogger(__name__)

_SET_PRINCIPAL = (
    "SELECT set_config('renewflow.tenant_id', %s, true), set_config('renewflow.user_id', %s, true)"
)


class Database:
    """The pools of one deployment's database; open once per process, share everywhere."""

    def __init__(
        self,
        owner_conninfo: str,
        *,
        app_password: str | None = None,
        service_password: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        service_max_size: int | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.owner_conninfo = owner_conninfo
        self.app_conninfo = role_conninfo(owner_conninfo, APP_ROLE, app_password)
        self.service_conninfo = role_conninfo(owner_conninfo, SERVICE_ROLE, service_password)
        self._connect_timeout = connect_timeout
        kwargs: dict[str, Any] = {"row_factory": dict_row, "application_name": "renewflow"}
        # Requests run a few statements over and over, prepared by psycopg after their fifth run.
        # Left to choose, PostgreSQL keeps re-planning some of them on every run (the context
        # query: 1 ms of planning for 0.2 ms of work) because a generic plan's estimate for an
        # array parameter looks worse than it is; our queries are keyed lookups, where a generic
        # plan is the right one.
        options = conninfo_to_dict(self.app_conninfo).get("options") or ""
        app_kwargs = {
            **kwargs,
            "options": f"{options} -c plan_cache_mode=force_generic_plan".strip(),
        }
        self._app_pool = ConnectionPool(
            self.app_conninfo,
            connection_class=Connection,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs=app_kwargs,
            name="renewflow-app",
        )
        # Cross-tenant work is rare and batch-shaped: a small pool, opened on first use.
        self._service_pool = ConnectionPool(
            self.service_conninfo,
            connection_class=Connection,
            min_size=0,
            # a worker's runners claim and finish as the service role: one connection for each
            # two of them keeps them from queueing behind each other (half the app pool, >= 4)
            max_size=service_max_size or max(4, max_size // 2),
            open=False,
            kwargs=kwargs,
            name="renewflow-service",
        )
        self._service_open = False
        self._checking = threading.Lock()  # one pool check at a time

    def open(self) -> None:
        """Opens the app pool, failing fast with one clear error if the server is unreachable."""
        self._open_pool(self._app_pool, self.app_conninfo)

    def close(self) -> None:
        self._app_pool.close()
        self._service_pool.close()

    def __enter__(self) -> Database:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open_pool(self, pool: ConnectionPool[Any], conninfo: str) -> None:
        try:
            pool.open(wait=True, timeout=self._connect_timeout)
        except PoolTimeout:
            pool.close()
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL as {describe(conninfo)} within "
                f"{self._connect_timeout:g}s: {_last_connect_error(conninfo)}"
            ) from None

    @contextmanager
    def tenant_transaction(
        self, tenant_id: UUID | str, user_id: UUID | str | None = None
    ) -> Iterator[Connection]:
        """A transaction as the app role, scoped by row-level security to one tenant (and user).

        The settings are transaction-local (`set_config(..., true)`), so a pooled connection never
        carries one tenant's identity into the next transaction.
        """
        with (
            self._checked(self._app_pool),
            self._app_pool.connection() as conn,
            conn.transaction(),
        ):
            conn.execute(_SET_PRINCIPAL, (str(tenant_id), str(user_id) if user_id else ""))
            yield conn

    @contextmanager
    def app_connection(self) -> Iterator[Connection]:
        """An app-role connection with no tenant set: sees no tenant's rows (authentication, health)."""
        with self._checked(self._app_pool), self._app_pool.connection() as conn:
            yield conn

    @contextmanager
    def _checked(self, pool: ConnectionPool[Any]) -> Iterator[None]:
        """After a lost connection (the server restarted, a network cut), the pool's other idle
        connections are most likely dead too: they are all checked at once, so a restart costs
        one failed request per process instead of one per pooled connection."""
        try:
            yield
        except psycopg.OperationalError:
            self._check_soon(pool)
            raise

    def _check_soon(self, pool: ConnectionPool[Any]) -> None:
        # in the failing request's own thread (it is failing anyway): the next request then finds
        # only live connections; a check already under way elsewhere is enough
        if not self._checking.acquire(blocking=False):
            return
        try:
            pool.check()
        except Exception as error:  # the server is still away: the next failure checks again
            log.debug("pool check failed: %s", error)
        finally:
            self._checking.release()

    @contextmanager
    def service_transaction(self) -> Iterator[Connection]:
        """A transaction as the service role, which sees every tenant. Only for explicit
        cross-tenant work (provisioning, sweeps, workers), never in a request's path."""
        if not self._service_open:
            self._open_pool(self._service_pool, self.service_conninfo)
            self._service_open = True
        with (
            self._checked(self._service_pool),
            self._service_pool.connection() as conn,
            conn.transaction(),
        ):
            yield conn

    def service_statement(
        self, query: LiteralString, params: Mapping[str, Any] | None = None
    ) -> list[DictRow]:
        """One statement as the service role, in its own transaction, and the rows it returned.

        The hot path of the job queues (a claim, a fenced finish: each one statement, mostly a
        function call): in autocommit the statement is its own transaction, so it costs one round
        trip where `service_transaction` costs three (BEGIN, the statement, COMMIT). Atomic as
        any statement is; for two statements that must commit together, `service_transaction`.
        """
        if not self._service_open:
            self._open_pool(self._service_pool, self.service_conninfo)
            self._service_open = True
        with self._checked(self._service_pool), self._service_pool.connection() as conn:
            conn.autocommit = True
            try:
                cursor = conn.execute(query, params)
                return cursor.fetchall() if cursor.description is not None else []
            finally:
                # the pool hands connections out in transaction mode; a broken connection is
                # discarded by the pool and cannot be changed back (nor needs to be)
                if not conn.closed:
                    conn.autocommit = False

    def pool_stats(self) -> dict[str, dict[str, int]]:
        """psycopg_pool's statistics of each open pool (`app`, `service`), for the metrics: in
        memory, so they answer even while the server is away."""
        pools = {"app": self._app_pool, "service": self._service_pool}
        return {name: pool.get_stats() for name, pool in pools.items() if not pool.closed}

    def owner_connection(self) -> psycopg.Connection[DictRow]:
        """A new autocommit connection as the schema owner (migrations, administration)."""
        return connect(self.owner_conninfo)

    def ping(self) -> None:
        """Raises DatabaseUnavailable unless the app role can run a query now."""
        try:
            with self._checked(self._app_pool), self._app_pool.connection(timeout=2.0) as conn:
                conn.execute("SELECT 1")
        except (psycopg.Error, PoolTimeout) as error:
            raise DatabaseUnavailable(f"database not ready: {type(error).__name__}") from None


def connect(conninfo: str, *, autocommit: bool = True, timeout: float = 10.0) -> Connection:
    """One direct connection, with psycopg's connection errors turned into one clear line."""
    try:
        return psycopg.connect(
            conninfo,
            autocommit=autocommit,
            row_factory=dict_row,
            connect_timeout=int(timeout),
            application_name="renewflow",
        )
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL as {describe(conninfo)}: {_first_line(error)}"
        ) from None


def _last_connect_error(conninfo: str) -> str:
    try:
        psycopg.connect(conninfo, connect_timeout=3).close()
    except psycopg.Error as error:
        return _first_line(error)
    return "the pool could not fill in time"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0].strip() if text else type(error).__name__
