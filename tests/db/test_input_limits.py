"""Contract: the string limits of the API models are the lengths of the columns they land in.

renewflow.limits mirrors the migrations (`VARCHAR`) and marks each model field with its `Column`;
this reads the real lengths from information_schema, so a migration that changes a column, or a
model field that forgets its limit, fails here instead of answering 500 in production.
"""

from __future__ import annotations

import enum
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, EmailStr
from pydantic.fields import FieldInfo

from renewflow import accounts
from renewflow.api.app import ROUTERS
from renewflow.api.routes.tasks import SkipIn, SnoozeIn
from renewflow.context.models import (
    AccountTeam,
    ContactIn,
    ContractIn,
    CustomerIn,
    IntelligenceIn,
    UsageIn,
    UsageRowIn,
)
from renewflow.db import Database
from renewflow.limits import TEXT, VARCHAR, Column
from renewflow.tasks.models import TaskCreate, TaskUpdate

MODELS: tuple[type[BaseModel], ...] = (
    AccountTeam,
    CustomerIn,
    ContractIn,
    ContactIn,
    UsageIn,
    UsageRowIn,
    IntelligenceIn,
    TaskCreate,
    TaskUpdate,
    SkipIn,
    SnoozeIn,
)
# String fields that land in no column: each with the reason.
NOT_STORED = {
    # an id or a lookup key: resolved to a customer, never written
    ("UsageRowIn", "customerId"),
    # engine-written too (a rendered template): bounded by the 8 MiB body only
    ("TaskCreate", "description"),
    ("TaskUpdate", "description"),
}


@dataclass(frozen=True)
class StringField:
    model: str
    name: str
    column: str | None
    max_length: int | None  # from StringConstraints / max_length
    choices: tuple[str, ...]  # a Literal's or an enumeration's values


def _walk(annotation: Any) -> tuple[list[Any], list[Any]]:
    """(types, metadata) found anywhere in an annotation (Optional, Annotated, unions)."""
    types: list[Any] = []
    metadata: list[Any] = []
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        metadata.extend(extra)
        inner_types, inner_metadata = _walk(base)
        return types + inner_types, metadata + inner_metadata
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (
        origin is not None and str(origin) == "<class 'types.UnionType'>"
    ):
        for arg in typing.get_args(annotation):
            inner_types, inner_metadata = _walk(arg)
            types += inner_types
            metadata += inner_metadata
        return types, metadata
    return [annotation], metadata


def _string_field(model: type[BaseModel], name: str, info: FieldInfo) -> StringField | None:
    types, metadata = _walk(info.annotation)
    metadata = [*info.metadata, *metadata]
    choices: tuple[str, ...] = ()
    is_string = False
    for kind in types:
        if typing.get_origin(kind) is Literal:
            choices += tuple(str(value) for value in typing.get_args(kind))
            is_string = True
        elif isinstance(kind, type) and issubclass(kind, enum.Enum):
            choices += tuple(str(member.value) for member in kind)
            is_string = True
        elif (isinstance(kind, type) and issubclass(kind, str)) or kind is EmailStr:
            is_string = True
    if not is_string:
        return None
    columns = [m.name for m in metadata if isinstance(m, Column)]
    lengths = [m.max_length for m in metadata if getattr(m, "max_length", None) is not None]
    return StringField(
        model.__name__,
        name,
        columns[0] if columns else None,
        min(lengths) if lengths else None,
        choices,
    )


def _fields() -> list[StringField]:
    found = []
    for model in MODELS:
        for name, info in model.model_fields.items():
            field = _string_field(model, name, info)
            if field is not None:
                found.append(field)
    return found


@pytest.fixture(scope="module")
def columns(database: Database) -> dict[str, tuple[str, int | None]]:
    """table.column -> (data type, character_maximum_length) of every public column."""
    with database.owner_connection() as conn:
        rows = conn.execute(
            """SELECT table_name || '.' || column_name AS name, data_type, character_maximum_length
               FROM information_schema.columns WHERE table_schema = 'public'"""
        ).fetchall()
    return {row["name"]: (row["data_type"], row["character_maximum_length"]) for row in rows}


def test_the_limits_module_knows_the_real_varchar_lengths(
    columns: dict[str, tuple[str, int | None]],
) -> None:
    declared = {name: columns.get(name, ("missing", None))[1] for name in VARCHAR}
    assert declared == dict(VARCHAR)
    assert all(columns[name][0] == "text" for name in TEXT)


def test_every_string_field_names_its_column() -> None:
    unmarked = [
        (f.model, f.name)
        for f in _fields()
        if f.column is None and (f.model, f.name) not in NOT_STORED
    ]
    assert unmarked == []


@pytest.mark.parametrize("field", _fields(), ids=lambda f: f"{f.model}.{f.name}")
def test_each_string_field_fits_its_column(
    field: StringField, columns: dict[str, tuple[str, int | None]]
) -> None:
    if field.column is None:
        assert (field.model, field.name) in NOT_STORED
        return
    data_type, length = columns[field.column]
    if data_type in ("character varying", "character"):
        assert length is not None
        if field.choices:
            assert max(map(len, field.choices)) <= length, field.choices
        else:
            # the same limit, not merely a smaller one: one source of truth, the column
            assert field.max_length == length, f"{field.column} holds {length}"
    elif data_type == "text":
        assert field.max_length == TEXT[field.column]
    else:
        assert data_type == "jsonb", f"{field.column} is {data_type}"
        assert field.max_length is not None  # an email in a JSON document: still bounded


def test_no_request_model_claims_a_column_it_does_not_fit(
    columns: dict[str, tuple[str, int | None]],
) -> None:
    """Every request body of the app (other packages' models too): a field that names its
    column must fit it."""
    models: set[type[BaseModel]] = set()
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            for param in route.dependant.body_params:
                for kind in _walk(param.field_info.annotation)[0]:
                    models |= _models_in(kind)
    assert CustomerIn in models
    for model in models:
        for name, info in model.model_fields.items():
            field = _string_field(model, name, info)
            if field is None or field.column is None:
                continue
            data_type, length = columns[field.column]
            if data_type in ("character varying", "character") and not field.choices:
                assert field.max_length == length, f"{model.__name__}.{name}"


def _models_in(kind: Any) -> set[type[BaseModel]]:
    if typing.get_origin(kind) is list:
        found: set[type[BaseModel]] = set()
        for arg in typing.get_args(kind):
            found |= _models_in(arg)
        return found
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        nested = {kind}
        for info in kind.model_fields.values():
            for inner in _walk(info.annotation)[0]:
                if isinstance(inner, type) and issubclass(inner, BaseModel) and inner is not kind:
                    nested |= _models_in(inner)
        return nested
    return set()


def test_accounts_refuse_names_longer_than_their_columns(
    database: Database, tenant_factory: Callable[..., uuid.UUID]
) -> None:
    """The CLI's tenants and users: a clear error naming the option, not a database error."""
    with database.service_transaction() as conn, pytest.raises(accounts.InvalidInput) as tenant:
        accounts.create_tenant(conn, "t" * 256)
    assert tenant.value.field == "name"
    with (
        database.tenant_transaction(tenant_factory()) as conn,
        pytest.raises(accounts.InvalidInput) as user,
    ):
        accounts.create_user(conn, email="a@example.com", role=accounts.Role.CSM, name="n" * 256)
    assert user.value.field == "name"
