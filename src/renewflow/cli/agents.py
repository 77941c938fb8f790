"""`renewflow agents`: list a user's agent tasks and start a run (the worker runs the steps)."""

from __future__ import annotations

from typing import Annotated

import typer

from renewflow.cli.app import app, open_database

agents_app = typer.Typer(help="Agent tasks: list them, run one.", no_args_is_help=True)
app.add_typer(agents_app, name="agents")

_Tenant = Annotated[str, typer.Option(help="Tenant id.")]
_User = Annotated[str, typer.Option(help="The owning user's id (tasks are owner-only).")]


@agents_app.command("list")
def agents_list(tenant: _Tenant, user: _User) -> None:
    """The user's agent tasks, newest first: id, status, steps done, LLM cost."""
    from renewflow import accounts, agents

    tenant_id = accounts.parse_uuid("--tenant", tenant)
    user_id = accounts.parse_uuid("--user", user)
    with open_database() as database, database.tenant_transaction(tenant_id, user_id) as conn:
        page = agents.list_tasks(conn, limit=200)
    for task in page.items:
        typer.echo(
            f"{task.id}  {task.status.value:<17} {task.completed_steps}/{task.step_count} steps"
            f"  ${task.usage.cost_usd:.4f}  {task.name}"
        )
    typer.echo(f"{page.total} agent task(s)")


@agents_app.command("run")
def agents_run(
    task: Annotated[str, typer.Argument(help="The agent task's id.")], tenant: _Tenant, user: _User
) -> None:
    """Start a run of the task from its first step; a worker (`renewflow worker`) runs it."""
    from renewflow import accounts, agents

    tenant_id = accounts.parse_uuid("--tenant", tenant)
    user_id = accounts.parse_uuid("--user", user)
    task_id = accounts.parse_uuid("task", task)
    with open_database() as database, database.tenant_transaction(tenant_id, user_id) as conn:
        started = agents.run_task(conn, task_id)
    typer.echo(f"{started.id}: {started.status.value} ({len(started.steps)} steps)")
