"""Migration 0025 moves single-instruction agent tasks to one step each (spec: "Migrate existing
single-instruction tasks to step-based model"), with a clear default when a task has none."""

from __future__ import annotations

from collections.abc import Callable

from renewflow.db import Migrator, connect


def test_single_instruction_tasks_get_one_step(make_database: Callable[[], str]) -> None:
    url = make_database()
    migrator = Migrator(url)
    migrator.migrate(24)
    with connect(url) as conn:
        tenant = conn.execute("INSERT INTO tenants (name) VALUES ('Old') RETURNING id").fetchone()
        assert tenant is not None
        user = conn.execute(
            "INSERT INTO users (tenant_id, email, role) VALUES (%s, 'a@example.com', 'csm') "
            "RETURNING id",
            (tenant["id"],),
        ).fetchone()
        assert user is not None
        for name, instructions in (("Research", "Find the CFO."), ("Bare", None), ("Blank", " ")):
            conn.execute(
                "INSERT INTO agent_tasks (tenant_id, user_id, name, instructions) "
                "VALUES (%s, %s, %s, %s)",
                (tenant["id"], user["id"], name, instructions),
            )
    migrator.migrate()
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT a.name, s.step_order, s.step_name, s.instructions, s.include_previous_context "
            "FROM task_steps s JOIN agent_tasks a ON a.id = s.task_id ORDER BY a.name"
        ).fetchall()
    assert [tuple(r.values()) for r in rows] == [
        ("Bare", 1, "Bare", 'Carry out the task "Bare" and report what you found.', False),
        ("Blank", 1, "Blank", 'Carry out the task "Blank" and report what you found.', False),
        ("Research", 1, "Research", "Find the CFO.", False),
    ]
    migrator.rollback(24)
    migrator.migrate()
