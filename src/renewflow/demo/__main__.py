"""`python -m renewflow.demo load|remove [--tenant NAME]`: the demo book from a shell (and from
`make run`), until `renewflow demo` calls the same functions.

`load` migrates the database and seeds the core workflows first, as `renewflow serve` does, so it
works on a fresh one. With `--sign-in URL` its last line is a one-time console sign-in link.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from renewflow import db
from renewflow.config import load_settings
from renewflow.demo.loader import DEFAULT_NAME, DEFAULT_SEED, DemoTenant, find, load, remove
from renewflow.demo.loader import sign_in_url as make_sign_in_url
from renewflow.errors import RenewflowError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m renewflow.demo", description="The demo book of business."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    loading = commands.add_parser("load", help="create the demo tenant and its book")
    removing = commands.add_parser("remove", help="delete the demo tenant and all of its data")
    for command in (loading, removing):
        command.add_argument("--tenant", default=DEFAULT_NAME, help=f"(default: {DEFAULT_NAME})")
    loading.add_argument("--seed", type=int, default=DEFAULT_SEED, help="(default: %(default)s)")
    loading.add_argument("--replace", action="store_true", help="replace an existing demo tenant")
    loading.add_argument(
        "--if-missing", action="store_true", help="keep an existing demo tenant (no error)"
    )
    loading.add_argument(
        "--sign-in",
        metavar="URL",
        help="print a one-time console sign-in link on this base URL as the last line",
    )
    loading.add_argument(
        "--as",
        dest="role",
        default="admin",
        choices=("admin", "manager", "csm"),
        help="whom the sign-in link signs in (default: admin)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "remove":
            return _remove(args.tenant)
        return _load(args)
    except RenewflowError as error:
        print(f"renewflow demo: {error}", file=sys.stderr)
        return 1


def _remove(tenant: str) -> int:
    with db.database_from_settings(load_settings()) as database:
        removed = remove(database, tenant)
    print(f"removed {removed} demo tenant(s) named {tenant!r}")
    return 0


def _load(args: argparse.Namespace) -> int:
    from renewflow.workflows.files import core_library
    from renewflow.workflows.seed import seed_core

    settings = load_settings()
    conninfo = db.owner_conninfo(settings)
    db.Migrator(conninfo).migrate()
    with db.database_from_settings(settings, conninfo) as database:
        with database.service_transaction() as conn:
            seed_core(conn, core_library())
        demo = find(database, args.tenant) if args.if_missing else None
        if demo is not None:
            print(f"the demo tenant {demo.name!r} is loaded already (tenant {demo.tenant_id})")
        else:
            started = time.monotonic()
            demo = load(database, tenant_name=args.tenant, seed=args.seed, replace=args.replace)
            print(_loaded(demo, time.monotonic() - started))
        for role, users in demo.users.items():
            print(f"  {role}: {', '.join(user.email for user in users)}")
        if args.sign_in:
            url = make_sign_in_url(database, demo, args.sign_in, args.role)
            print(f"console sign-in link for the {args.role} (one use, 15 minutes):")
            print(url)
    return 0


def _loaded(demo: DemoTenant, seconds: float) -> str:
    counts = demo.counts
    return (
        f"loaded the demo tenant {demo.name!r} (seed {demo.seed}) in {seconds:.1f} s: "
        f"{counts.get('customers', 0)} customers, {counts.get('contacts', 0)} contacts, "
        f"{counts.get('active_executions', 0)} active executions, "
        f"{counts.get('completed_steps', 0)} completed steps, {counts.get('tasks', 0)} tasks, "
        f"{counts.get('notifications', 0)} notifications (tenant {demo.tenant_id})"
    )


if __name__ == "__main__":
    sys.exit(main())
