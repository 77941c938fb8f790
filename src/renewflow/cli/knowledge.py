"""`renewflow knowledge`: add documents to a knowledge base, list bases, search."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from renewflow import accounts
from renewflow.cli.app import app, open_database
from renewflow.errors import InvalidInputError

knowledge_app = typer.Typer(
    help="Knowledge bases for the chat's retrieval: add documents, list, search.",
    no_args_is_help=True,
)
app.add_typer(knowledge_app, name="knowledge")

_Tenant = Annotated[str, typer.Option(help="Tenant id.")]


def _read(path: Path) -> bytes:
    from renewflow.knowledge import DocumentTooLarge
    from renewflow.knowledge.limits import MAX_DOCUMENT_BYTES

    if not path.is_file():
        raise InvalidInputError(str(path), "no such file")
    size = path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:  # refused before it is read whole
        raise DocumentTooLarge(
            f"{path}: {size:,} bytes; a document may have at most {MAX_DOCUMENT_BYTES:,} bytes"
        )
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidInputError(str(path), f"cannot be read ({error.strerror})") from None


@knowledge_app.command("add")
def add_command(
    knowledge_base: Annotated[str, typer.Argument(metavar="KB", help="The base's id or name.")],
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Files to add.")],
    tenant: _Tenant,
    create: Annotated[
        bool, typer.Option("--create", help="Create the base (named KB) if there is none.")
    ] = False,
) -> None:
    """Adds files (txt, md, html, csv, json; pdf and docx with the documents extra) to a
    knowledge base, all or nothing: a file that cannot be read stops the command and nothing of
    it is added. Indexing is queued and done by `renewflow worker`."""
    from rich.progress import Progress

    from renewflow import knowledge

    tenant_id = accounts.parse_uuid("--tenant", tenant)
    with Progress(transient=True) as progress, open_database() as database:
        bar = progress.add_task("adding documents", total=len(files))
        with database.tenant_transaction(tenant_id) as conn:
            try:
                base_id = knowledge.resolve_base(conn, knowledge_base)
            except knowledge.KnowledgeBaseNotFound:
                if not create:
                    raise
                base_id = knowledge.create_base(
                    conn, knowledge.KnowledgeBaseCreate(name=knowledge_base)
                ).id
            added = []
            for path in files:
                progress.update(bar, description=f"adding {path.name}")
                added.append(knowledge.add_document(conn, base_id, _read(path), path.name))
                progress.advance(bar)
    for document in added:
        typer.echo(f"{document.id}  {document.filename}  queued")
    typer.echo(f"{len(added)} document(s) added to {base_id}; indexing is queued")


@knowledge_app.command("list")
def list_command(tenant: _Tenant) -> None:
    """The tenant's knowledge bases, with their documents and chunks counted."""
    from renewflow import knowledge

    tenant_id = accounts.parse_uuid("--tenant", tenant)
    with open_database() as database, database.tenant_transaction(tenant_id) as conn:
        bases = knowledge.list_bases(conn)
    for base in bases:
        typer.echo(
            f"{base.id}  {base.name}  {base.document_count} document(s), "
            f"{base.chunk_count} chunk(s)"
        )


@knowledge_app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help='Words, "a phrase", -excluded.')],
    tenant: _Tenant,
    knowledge_base: Annotated[
        list[str] | None, typer.Option("--base", help="A base's id or name (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=50)] = 10,
) -> None:
    """Full-text search of the tenant's knowledge bases: the best chunks, with their scores."""
    from renewflow import knowledge

    tenant_id = accounts.parse_uuid("--tenant", tenant)
    with open_database() as database, database.tenant_transaction(tenant_id) as conn:
        base_ids = (
            [knowledge.resolve_base(conn, b) for b in knowledge_base] if knowledge_base else None
        )
        result = knowledge.search(conn, query=query, knowledge_base_ids=base_ids, limit=limit)
    if not result.chunks:
        typer.echo(f"no results: {result.reason}")
        return
    for chunk in result.chunks:
        snippet = " ".join(chunk.text.split())[:160]
        typer.echo(f"{chunk.rank:>2}. {chunk.score:.4f}  {chunk.title}\n    {snippet}")
