"""`renewflow workflows`: validate, seed, export and import workflow configs, the schema."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from renewflow import accounts, db
from renewflow.cli.app import app, fail, open_database
from renewflow.errors import InvalidInputError

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
    with open_database() as database:
        typer.echo(seed_core_library(database))


def seed_core_library(database: db.Database) -> str:
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
    with open_database() as database, database.tenant_transaction(tenant_id) as conn:
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
        fail(f"{len(errors)} validation error(s): nothing imported", 1)
    configs = [
        load_config(path.read_text(encoding="utf-8"), str(path)) for path in expand_paths(paths)
    ]
    tenant_id = accounts.parse_uuid("--tenant", tenant)
    with open_database() as database, database.tenant_transaction(tenant_id) as conn:
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
