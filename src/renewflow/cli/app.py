"""The `renewflow` command's root: the Typer app, its global options, the settings and database
of a command, and the entry point mapping errors to one line and an exit code."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import click
import typer

from renewflow import db
from renewflow.config import Settings, load_settings
from renewflow.errors import InvalidInputError, RenewflowError
from renewflow.observability.logs import LogFormat

app = typer.Typer(
    name="renewflow",
    help="Customer-success renewal playbooks as versioned data, run on PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class LogLevelName(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


@dataclass
class _State:
    overrides: dict[str, object] = field(default_factory=dict)
    log_format: LogFormat = LogFormat.TEXT

    def settings(self) -> Settings:
        return load_settings(**self.overrides)


state = _State()


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
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            envvar="RENEWFLOW_LOG_FORMAT",
            case_sensitive=False,
            help="Log lines of serve and worker: text, or json (one object a line, with the "
            "request, tenant, execution and job ids).",
        ),
    ] = LogFormat.TEXT,
) -> None:
    state.overrides["data_dir"] = data_dir
    state.log_format = log_format


def open_database() -> db.Database:
    """The database of the settings in use (the embedded server, started, or DATABASE_URL)."""
    return db.database_from_settings(state.settings())


# --- entry point ---------------------------------------------------------------------------------


def fail(message: str, code: int) -> NoReturn:
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
        # outside standalone mode, click returns a command's `typer.Exit(code)` as the code
        returned = app(standalone_mode=False)
        if isinstance(returned, int) and returned:
            sys.exit(returned)
    except _USAGE_ERRORS as error:
        code = getattr(error, "exit_code", 2)
        message = error.format_message()  # type: ignore[attr-defined]
        if not message:  # no arguments: the help has been printed
            sys.exit(code)
        ctx = getattr(error, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        fail(f"{message}{hint}", code)
    except (click.exceptions.Exit, typer.Exit) as error:
        sys.exit(error.exit_code)
    except (click.Abort, typer.Abort):
        fail("aborted", 1)
    except InvalidInputError as error:
        fail(str(error), 2)
    except RenewflowError as error:
        fail(str(error), 1)
    except KeyboardInterrupt:
        sys.exit(130)
