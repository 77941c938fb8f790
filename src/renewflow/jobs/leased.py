"""What every queue of leased rows does the same way: heartbeats, releases and its depth.

A queue names its own statements (`heartbeat`, `release` over `%(ids)s` and `%(tokens)s`
arrays, so that one statement serves a whole batch; `depth` returning one row of counts by
state) in its queries file, and sets `queries` to them; its claims, runs, finishes and reaping
differ and stay its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, LiteralString

from renewflow.db import Database
from renewflow.jobs.types import Lease


class LeasedRows:
    database: Database
    queries: ClassVar[Mapping[str, LiteralString]]

    @staticmethod
    def pairs(leases: Sequence[Lease]) -> dict[str, Any]:
        """The parameters that fence a statement to `leases`: each job with its lease token."""
        return {"ids": [x.job_id for x in leases], "tokens": [x.token for x in leases]}

    def heartbeat(self, leases: Sequence[Lease], lease_seconds: float) -> int:
        if not leases:
            return 0
        with self.database.service_transaction() as conn:
            rows = conn.execute(
                self.queries["heartbeat"], {**self.pairs(leases), "lease_seconds": lease_seconds}
            ).fetchall()
        return len(rows)

    def release(self, leases: Sequence[Lease]) -> int:
        if not leases:
            return 0
        with self.database.service_transaction() as conn:
            return len(conn.execute(self.queries["release"], self.pairs(leases)).fetchall())

    def depth(self) -> Mapping[str, int]:
        with self.database.service_transaction() as conn:
            row = conn.execute(self.queries["depth"]).fetchone()
        return dict(row) if row else {}
