"""The `renewflow` command: the only package that parses argv. One module per command group (as the
API has one router per domain); each command is a thin shell that opens the right transaction,
calls a package, and prints."""

from renewflow.cli import (  # noqa: F401  (each module registers its commands on `app`)
    accounts,
    agents,
    console,
    db,
    demo,
    imports,
    knowledge,
    ledger,
    notifications,
    serve,
    worker,
    workflows,
)
from renewflow.cli.app import app, main

__all__ = ["app", "main"]
