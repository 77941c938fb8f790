"""The `renewflow` command. The only module that parses argv; each command is a thin shell that
opens the right transaction, calls a package, and prints."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import click
import typer

from renewflow import accounts, db
from renewflow.config import Settings, load_settings
from renewflow.errors import InvalidInputError, RenewflowError

app = typer.Typer(
    name="renewflow",
    help="Customer-success renewal playbooks as versioned data, run on PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The database: its URL, migrations.", no_args_is_help=True)
tenants_app = typer.Typer(
    help="Tenants (each one a customer-success organisation).", no_args_is_help=True
)
users_app = typer.Typer(help="Users of a tenant, and their API keys.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")


class LogLevelName(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


@dataclass
class _State:
    overrides: dict[str, object] = field(default_factory=dict)

    def settings(self) -> Settings:
        return load_settings(**self.overrides)


_state = _State()


@app.callback()
def _global_options(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="RENEWFLOW_DATA_DIR",
            help="Directory of the embedded PostgreSQL (ignored when DATABASE_URL is set).",
        ),
    ] = None,
) -> None:
    _state.overrides["data_dir"] = data_dir


def _database() -> db.Database:
    return db.database_from_settings(_state.settings())


# --- serve -------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port to listen on.")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations first.")] = True,
    seed: Annotated[
        bool, typer.Option(help="Upsert the core workflow library (after migrating).")
    ] = True,
    worker: Annotated[
        bool,
        typer.Option(help="Also run a worker (AI tasks, sweeps, notifications) in this process."),
    ] = True,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="HTTP processes sharing the port (default: RENEWFLOW_HTTP_PROCESSES, else 1).",
        ),
    ] = None,
) -> None:
    """Run the HTTP API (migrating the database and seeding the core workflows first)."""
    from renewflow.engine import RunLimits, StepRunner
    from renewflow.llm import shared_clients
    from renewflow.serving import StopOnSigterm, listening_socket, run_http
    from renewflow.worker import build_worker

    settings = _state.settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    bind_host = host or settings.host
    bind_port = port or settings.port
    sock = listening_socket(bind_host, bind_port)  # first: a taken port fails before any work
    with StopOnSigterm() as stop:  # from here on, SIGTERM leads to the cleanup below
        conninfo = db.owner_conninfo(settings)
        if migrate:
            applied = db.Migrator(conninfo).migrate()
            if applied:
                labels = ", ".join(m.label for m in applied)
                typer.echo(f"applied {len(applied)} migration(s): {labels}")
        database = db.database_from_settings(settings, conninfo)
        database.open()
        background = None
        try:
            if seed:
                typer.echo(_seed_core_library(database))
            typer.echo(_how_to_authenticate(f"http://{bind_host}:{bind_port}"))
            background = (
                build_worker(
                    database,
                    step_runner=StepRunner(
                        database, shared_clients, limits=RunLimits.from_settings(settings)
                    ),
                    step_workers=settings.step_workers,
                )
                if worker
                else None
            )
            if background is not None:
                background.start()
            run_http(
                sock,
                database,
                conninfo,
                processes=processes or settings.http_processes,
                log_level=settings.log_level,
                stop=stop,
            )
        finally:
            if background is not None:
                background.stop()
                background.join(30)
            database.close()


def _how_to_authenticate(base_url: str) -> str:
    return "\n".join(
        [
            f"renewflow is starting on {base_url} (API docs: {base_url}/docs)",
            "Every /api route needs 'Authorization: Bearer <api key>'. To get a key:",
            "  renewflow tenants create 'Acme CS'            # prints the tenant id last",
            "  renewflow users create --tenant <tenant id> --email you@acme.com --role admin",
            "                                                # prints the key last; it is shown once",
            f"  curl -H 'Authorization: Bearer <api key>' {base_url}/api/me",
            "(from a source checkout, the command is .venv/bin/renewflow)",
        ]
    )


# --- db ----------------------------------------------------------------------------------------


@db_app.command("url")
def db_url() -> None:
    """Print the connection URL in use (the owner connection; starts the embedded server if needed)."""
    typer.echo(db.owner_conninfo(_state.settings()))


@db_app.command("migrate")
def db_migrate(
    to: Annotated[int | None, typer.Option(help="Stop after this version.")] = None,
) -> None:
    """Apply pending migrations, each in its own transaction."""
    applied = db.Migrator(db.owner_conninfo(_state.settings())).migrate(target=to)
    for migration in applied:
        typer.echo(f"applied {migration.label}")
    if not applied:
        typer.echo("nothing to apply: the database is up to date")


@db_app.command("rollback")
def db_rollback(
    to: Annotated[
        int | None, typer.Option(help="Revert down to this version (0: everything). Default: one.")
    ] = None,
) -> None:
    """Revert applied migrations, newest first."""
    if to is not None and to < 0:
        raise InvalidInputError("--to", "must be 0 or a migration version")
    undone = db.Migrator(db.owner_conninfo(_state.settings())).rollback(to=to)
    for migration in undone:
        typer.echo(f"reverted {migration.label}")
    if not undone:
        typer.echo("nothing to revert")


@db_app.command("status")
def db_status() -> None:
    """List migrations and whether each is applied."""
    for state in db.Migrator(db.owner_conninfo(_state.settings())).status():
        mark = "applied" if state.applied else "pending"
        if state.changed:
            mark = "applied, CHANGED since"
        typer.echo(f"{state.migration.label:40} {mark}")


@db_app.command("check")
def db_check(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Quarantine the unusable rows and fix the others (the originals are kept in "
            "quarantined_rows).",
        ),
    ] = False,
) -> None:
    """Find rows breaking today's input limits (written before them), one line each; exit 1 if
    any is found and not repaired."""
    from renewflow.limits.check import run as check_rows

    with _database() as database:
        report = check_rows(database, repair_rows=repair)
    for finding in report:
        typer.echo(str(finding))
    left = report.unrepaired
    typer.echo(
        f"{len(report.findings)} problem(s) found, {len(report.findings) - len(left)} repaired"
        + ("" if repair or not left else "; run with --repair to repair them")
    )
    if left:
        sys.exit(1)


# --- tenants, users, keys ------------------------------------------------------------------------


@tenants_app.command("create")
def tenants_create(
    name: Annotated[str, typer.Argument(help="The tenant's display name.")],
    time_zone: Annotated[str, typer.Option(help="IANA time zone for renewal dates.")] = "UTC",
) -> None:
    """Create a tenant; its id is printed on the last line."""
    with _database() as database, database.service_transaction() as conn:
        tenant = accounts.create_tenant(conn, name, time_zone)
    typer.echo(f"created tenant {tenant['name']!r}")
    typer.echo(str(tenant["id"]))


@users_app.command("create")
def users_create(
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    email: Annotated[str, typer.Option(help="The user's email address.")],
    role: Annotated[str, typer.Option(help="admin, manager, csm or service.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create a user with an API key; the key is printed on the last line, once."""
    tenant_id = accounts.parse_uuid("--tenant", tenant)
    parsed_role = accounts.parse_role(role, "--role")
    with _database() as database, database.tenant_transaction(tenant_id) as conn:
        user = accounts.create_user(conn, email=email, role=parsed_role, name=name)
        key = accounts.issue_key(conn, user_id=user["id"], tenant_id=tenant_id, role=parsed_role)
    typer.echo(f"created user {user['email']} ({parsed_role.value}), id {user['id']}")
    typer.echo(f"API key id {key.key_id}; the key follows and will not be shown again:")
    typer.echo(key.secret)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    user: Annotated[str, typer.Option(help="User id.")],
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
) -> None:
    """Issue another key for an existing user (same role); printed on the last line, once."""
    tenant_id = accounts.parse_uuid("--tenant", tenant)
    user_id = accounts.parse_uuid("--user", user)
    with _database() as database, database.tenant_transaction(tenant_id) as conn:
        found = accounts.get_user(conn, user_id)
        key = accounts.issue_key(
            conn, user_id=user_id, tenant_id=tenant_id, role=accounts.Role(found["role"]), name=name
        )
    typer.echo(f"API key id {key.key_id}; the key follows and will not be shown again:")
    typer.echo(key.secret)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (not the key).")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
) -> None:
    """Revoke an API key: requests with it get 401 from now on."""
    tenant_id = accounts.parse_uuid("--tenant", tenant)
    with _database() as database, database.tenant_transaction(tenant_id) as conn:
        accounts.revoke_key(conn, accounts.parse_uuid("KEY_ID", key_id))
    typer.echo(f"revoked {key_id}")


# --- workflows ---------------------------------------------------------------------------------

workflows_app = typer.Typer(
    help="Workflow configs: validate, seed the core library, export/import, schema.",
    no_args_is_help=True,
)
app.add_typer(workflows_app, name="workflows")


@workflows_app.command("validate")
def workflows_validate(
    paths: Annotated[
        list[Path], typer.Argument(help="Workflow files (.yaml, .yml, .json) or directories.")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the errors and warnings as a JSON array.")
    ] = False,
) -> None:
    """Validate workflow configs: one line per error with its JSON path; exit 1 on any error.
    Warnings (spec keys read as ours) go to stderr and leave the exit status 0."""
    import json

    from renewflow.workflows.files import validate_files

    issues = validate_files(paths)
    if as_json:
        typer.echo(json.dumps([issue.as_dict() for issue in issues], indent=2))
    else:
        for issue in issues:
            typer.echo(str(issue), err=issue.severity == "warning")
    if any(issue.severity == "error" for issue in issues):
        sys.exit(1)
    if not as_json:
        typer.echo("all workflows are valid")


@workflows_app.command("seed")
def workflows_seed() -> None:
    """Upsert the core workflow library in one transaction; unchanged workflows write nothing."""
    with _database() as database:
        typer.echo(_seed_core_library(database))


def _seed_core_library(database: db.Database) -> str:
    from renewflow.workflows.files import core_library
    from renewflow.workflows.seed import seed_core

    library = core_library()
    with database.service_transaction() as conn:
        result = seed_core(conn, library)
    return (
        f"core workflows: {len(result.inserted)} inserted, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged"
    )


@workflows_app.command("export")
def workflows_export(
    tenant: Annotated[str, typer.Option(help="Tenant id: export what this tenant uses.")],
    workflow_ids: Annotated[
        list[str] | None,
        typer.Argument(help="Workflow ids (default: every workflow of the tenant, core included)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
    output: Annotated[
        Path | None,
        typer.Option(help="Write one <id>.<format> file per workflow into this directory."),
    ] = None,
) -> None:
    """Export published workflow configs (overrides resolved) as YAML or JSON."""
    from renewflow.workflows import service
    from renewflow.workflows.files import dump_document

    if fmt not in ("yaml", "json"):
        raise InvalidInputError("--format", f"must be yaml or json (got {fmt!r})")
    tenant_id = accounts.parse_uuid("--tenant", tenant)
    with _database() as database, database.tenant_transaction(tenant_id) as conn:
        configs = service.export_configs(conn, tenant_id, workflow_ids)
    if output is None:
        if len(configs) != 1:
            raise InvalidInputError(
                "--output", f"{len(configs)} workflows: name one, or give a directory"
            )
        typer.echo(dump_document(configs[0], fmt), nl=False)
        return
    output.mkdir(parents=True, exist_ok=True)
    for config in configs:
        path = output / f"{config['id']}.{fmt}"
        path.write_text(dump_document(config, fmt), encoding="utf-8")
        typer.echo(f"wrote {path}")


@workflows_app.command("import")
def workflows_import(
    paths: Annotated[
        list[Path], typer.Argument(help="Workflow files (.yaml, .yml, .json) or directories.")
    ],
    tenant: Annotated[str, typer.Option(help="Tenant id: import as this tenant's workflows.")],
    message: Annotated[
        str | None, typer.Option(help="Change description of the versions written.")
    ] = None,
) -> None:
    """Import workflow files as the tenant's own workflows (a core id becomes an override), all
    in one transaction: any invalid file imports nothing (exit 1). Unchanged ones write nothing."""
    from renewflow.workflows import service
    from renewflow.workflows.files import expand_paths, load_config, validate_files

    issues = validate_files(paths)
    for issue in issues:
        typer.echo(str(issue), err=True)
    errors = [issue for issue in issues if issue.severity == "error"]
    if errors:
        _fail(f"{len(errors)} validation error(s): nothing imported", 1)
    configs = [
        load_config(path.read_text(encoding="utf-8"), str(path)) for path in expand_paths(paths)
    ]
    tenant_id = accounts.parse_uuid("--tenant", tenant)
    with _database() as database, database.tenant_transaction(tenant_id) as conn:
        result = service.import_configs(
            conn, tenant_id, configs, change_description=message or "imported from files"
        )
    typer.echo(
        f"workflows: {len(result.created)} created, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged"
    )


@workflows_app.command("schema")
def workflows_schema() -> None:
    """Print the JSON Schema of a workflow config (as published in docs/workflow.schema.json)."""
    from renewflow.workflows.schema import schema_text

    typer.echo(schema_text(), nl=False)


# --- worker, sweep, imports, notifications ------------------------------------------------------


@app.command()
def worker(
    name: Annotated[
        str | None, typer.Option(help="Worker name in leases (default host:pid).")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Runner threads.")] = 2,
    step_workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Asynchronous step runs at once (default: RENEWFLOW_STEP_WORKERS, else 50).",
        ),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Tasks claimed per claim.")] = 8,
    lease: Annotated[float, typer.Option(min=1, help="Lease seconds.")] = 30.0,
    poll: Annotated[float, typer.Option(min=0.05, help="Polling fallback seconds.")] = 1.0,
    reap_interval: Annotated[float, typer.Option(min=0.1)] = 5.0,
    grace: Annotated[float, typer.Option(min=0, help="Shutdown grace seconds.")] = 30.0,
    sweep_every: Annotated[float, typer.Option(min=0.1, help="Task sweep seconds.")] = 60.0,
    backoff_base: Annotated[float, typer.Option(min=0)] = 2.0,
    backoff_cap: Annotated[float, typer.Option(min=0)] = 600.0,
    metrics_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Serve /metrics on this port.")
    ] = None,
    metrics_host: Annotated[str, typer.Option()] = "127.0.0.1",
    plugins: Annotated[bool, typer.Option(help="Load renewflow.processors plugins.")] = True,
    processor: Annotated[
        list[str] | None,
        typer.Option(help="Extra processor NAME=MODULE:CALLABLE (development); repeatable."),
    ] = None,
    log_level: Annotated[
        LogLevelName | None,
        typer.Option(case_sensitive=False, help="Default: RENEWFLOW_LOG_LEVEL, else info."),
    ] = None,
) -> None:
    """Run a worker: AI tasks, the renewal sweep, scheduled notifications and their delivery.
    Stops gracefully on SIGTERM; run as many as you like."""
    from datetime import timedelta

    from renewflow.jobs import WorkerConfig
    from renewflow.tasks.processors import ProcessorRegistry
    from renewflow.tasks.worker import load_extra_processors
    from renewflow.worker import Intervals, run_worker

    logging.basicConfig(
        level=(log_level.value if log_level else _state.settings().log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )
    registry = ProcessorRegistry.default(plugins=plugins)
    registry.update(load_extra_processors(processor or []))
    config = WorkerConfig(
        concurrency=concurrency,
        batch=batch,
        lease_seconds=lease,
        poll_interval=poll,
        reap_interval=reap_interval,
        shutdown_grace=grace,
    )
    if name:
        config.name = name
    with _database() as database:
        run_worker(
            database,
            config,
            registry=registry,
            metrics_host=metrics_host,
            metrics_port=metrics_port,
            intervals=Intervals(task_sweep=timedelta(seconds=sweep_every)),
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            step_workers=_state.settings().step_workers if step_workers is None else step_workers,
        )


@app.command()
def sweep(
    tenant: Annotated[
        str | None, typer.Option(help="Only this tenant (default: every tenant).")
    ] = None,
) -> None:
    """Start and supersede workflow executions so each customer runs the workflow of its stage.

    Each tenant, and each customer, fails alone: everything else is committed, what failed is
    printed (one line each, on stderr), recorded for the tenant's admins (GET /api/failures) and
    retried later; the exit status is then 1."""
    from renewflow.engine.sweep import run_sweep, sweep_tenant

    with _database() as database:
        if tenant:
            result = sweep_tenant(database, accounts.parse_uuid("--tenant", tenant))
        else:
            result = run_sweep(database)
    typer.echo(
        f"{result.considered} customer(s) in a workflow's range: {result.started} started, "
        f"{result.superseded} superseded, {result.tasks_carried} open task(s) carried over"
    )
    if result.waiting:
        typer.echo(
            f"{result.waiting} failing tenant(s) or customer(s) left alone until their next "
            "attempt (GET /api/failures lists them)"
        )
    for failure in result.failures:
        typer.echo(f"renewflow: sweep failed: {failure.describe()}", err=True)
    if result.failures:
        sys.exit(1)


import_app = typer.Typer(help="Bulk import customer data from CSV or JSON.", no_args_is_help=True)
app.add_typer(import_app, name="import")


def _import(kind: str, tenant: str, path: Path) -> None:
    from rich.progress import Progress

    from renewflow.context.imports import import_customers, import_usage, read_rows

    tenant_id = accounts.parse_uuid("--tenant", tenant)
    rows = read_rows(path)
    run = import_customers if kind == "customers" else import_usage
    with Progress(transient=True) as progress, _database() as database:
        bar = progress.add_task(f"importing {kind}", total=len(rows))
        with database.tenant_transaction(tenant_id) as conn:
            result = run(conn, rows, source=str(path), progress=lambda n: progress.advance(bar, n))
    typer.echo(
        f"{path}: {result.rows} row(s) imported ({result.created} new, {result.updated} updated)"
    )


@import_app.command("customers")
def import_customers_command(
    path: Annotated[Path, typer.Argument(help="A .csv or .json file of customers.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
) -> None:
    """Customers with their contract (name, arr, renewalDate, csmEmail, externalId, ...). All or
    nothing: any bad row is reported with its field and nothing of the file is imported."""
    _import("customers", tenant, path)


@import_app.command("usage")
def import_usage_command(
    path: Annotated[Path, typer.Argument(help="A .csv or .json file of usage metrics.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
) -> None:
    """Usage metrics (customerId or customerExternalId, metricName, metricDate, value). All or
    nothing, like customers."""
    _import("usage", tenant, path)


notifications_app = typer.Typer(help="Notifications: schedules and delivery.", no_args_is_help=True)
app.add_typer(notifications_app, name="notifications")


@notifications_app.command("run")
def notifications_run() -> None:
    """Fire the scheduled notifications due now and deliver queued ones (a worker does this on
    its own; this is for cron-style deployments and for trying things out)."""
    from renewflow.engine import run_schedule
    from renewflow.notify.delivery import deliver_now

    with _database() as database:
        fired = run_schedule(database)
        sent, failed = deliver_now(database)
    typer.echo(f"{fired} notification(s) fired; {sent} delivered, {failed} failed")


console_app = typer.Typer(help="The web console.", no_args_is_help=True)
app.add_typer(console_app, name="console")


@console_app.command("login-link")
def console_login_link(
    email: Annotated[str, typer.Option(help="The user's email.")],
    tenant: Annotated[
        str | None, typer.Option(help="Tenant id (needed when the email is in several).")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="Where the console is served (default: RENEWFLOW_HOST and _PORT)."),
    ] = None,
) -> None:
    """Print a one-time sign-in link for the console (valid 15 minutes; the page it opens asks
    before signing in). The URL is the last line."""
    from renewflow.accounts import parse_uuid
    from renewflow.accounts.sessions import issue_login_link

    settings = _state.settings()
    tenant_id = parse_uuid("--tenant", tenant) if tenant else None
    with _database() as database, database.service_transaction() as conn:
        token = issue_login_link(conn, email, tenant_id)
    root = (base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    typer.echo(f"sign in as {email} within 15 minutes, once:")
    typer.echo(f"{root}/sign-in/link/{token}")


# --- entry point ---------------------------------------------------------------------------------


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"renewflow: error: {message}", err=True)
    sys.exit(code)


def _usage_error_types() -> tuple[type[Exception], ...]:
    """Click's usage errors: recent typer releases raise those of their own copy of click."""
    own = [c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"]
    return (click.ClickException, *own)


_USAGE_ERRORS = _usage_error_types()


def main() -> None:
    """Run the CLI: errors become one line on stderr and a non-zero exit, never a traceback."""
    try:
        app(standalone_mode=False)
    except _USAGE_ERRORS as error:
        code = getattr(error, "exit_code", 2)
        message = error.format_message()  # type: ignore[attr-defined]
        if not message:  # no arguments: the help has been printed
            sys.exit(code)
        ctx = getattr(error, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _fail(f"{message}{hint}", code)
    except (click.exceptions.Exit, typer.Exit) as error:
        sys.exit(error.exit_code)
    except (click.Abort, typer.Abort):
        _fail("aborted", 1)
    except InvalidInputError as error:
        _fail(str(error), 2)
    except RenewflowError as error:
        _fail(str(error), 1)
    except KeyboardInterrupt:
        sys.exit(130)
