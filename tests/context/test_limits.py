"""Input limits in customer data: the imports refuse what the API refuses, naming row and field;
the context builder reads values stored before the limits as missing, never failing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from renewflow import context, templates
from renewflow.context.imports import import_customers, import_usage, read_rows
from renewflow.db import Database
from tests.db.dirty import Dirty, dirty_database


@pytest.fixture(scope="module")
def dirty(make_database: Callable[[], str]) -> Iterator[tuple[Dirty, Database]]:
    found = dirty_database(make_database)
    with Database(found.url, max_size=2) as database:
        yield found, database


def test_the_context_of_a_customer_with_bad_stored_values_is_built(
    dirty: tuple[Dirty, Database],
) -> None:
    found, database = dirty
    with database.tenant_transaction(found.tenant_id) as conn:
        built = context.build_context(conn, found.customer_id)
        many = context.build_contexts(conn, [found.customer_id])
    assert many[found.customer_id] == built
    assert built["customer"]["arr"] is None  # NaN
    assert built["workflow"]["renewalARR"] is None
    usage = built["data"]["usage"]
    # 1e400, -1e400, NaN and 1e16 are missing; a date past 9999 is only text in the JSON
    assert usage["metrics"] == {"fine": 7, "future": 1}
    assert built["data"]["engagement"] == {"logins": None, "tickets": 3}
    assert built["intelligence"]["insights"] == [None, "churn risk"]
    assert built["accountTeam"]["ae"] is None
    rendered = templates.compile(
        "{{formatCurrency customer.arr}}|{{formatNumber data.usage.metrics.fine}}|"
        "{{json data.engagement}}"
    ).render(built)
    assert rendered == '$0.00|7|{"logins":null,"tickets":3}'  # null is 0 to JavaScript too


CUSTOMER_CSV = "name,arr,renewal_date,tier,domain,health_score\n"


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("Acme,1e400,2027-03-31,,,", "arr"),
        ("Acme,NaN,2027-03-31,,,", "arr"),
        ("Acme,100,2027-03-31," + "t" * 51 + ",,", "tier"),
        ("Acme,100,2027-03-31,," + "d" * 256 + ",", "domain"),
        ("Acme,100,2027-03-31,,,1e400", "healthScore"),
        ("Acme,100,0001-01-01,,,", "renewalDate"),
    ],
)
def test_a_customer_import_refuses_what_the_api_refuses(
    database: Database,
    tenant_factory: Callable[..., uuid.UUID],
    tmp_path: Path,
    row: str,
    field: str,
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMER_CSV + row + "\n")
    with (
        database.tenant_transaction(tenant_factory()) as conn,
        pytest.raises(context.ImportFailed) as failed,
    ):
        import_customers(conn, read_rows(path), source=str(path))
    assert [(p.row, p.field) for p in failed.value.problems] == [(1, field)]


@pytest.mark.parametrize("value", ["1e400", "-1e400", '"1e400"', '"NaN"', "1e16"])
def test_a_usage_import_refuses_values_out_of_range(
    database: Database, tenant_factory: Callable[..., uuid.UUID], tmp_path: Path, value: str
) -> None:
    tenant = tenant_factory()
    with database.tenant_transaction(tenant) as conn:
        customer_id, _ = context.upsert_customer(
            conn,
            context.CustomerIn.model_validate(
                {"name": "Acme", "arr": 1, "renewalDate": "2027-01-01", "externalId": "crm-1"}
            ),
        )
    path = tmp_path / "usage.json"
    path.write_text(
        '[{"customerExternalId": "crm-1", "metricName": "logins", "metricDate": "2026-11-01",'
        f' "value": {value}}}]'
    )
    with database.tenant_transaction(tenant) as conn, pytest.raises(context.ImportFailed) as failed:
        import_usage(conn, read_rows(path), source=str(path))
    assert [(p.row, p.field) for p in failed.value.problems] == [(1, "value")]
    with database.tenant_transaction(tenant) as conn:
        assert context.build_context(conn, customer_id)["data"]["usage"]["metrics"] == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "JSON nested deeper than 64 levels"),
        ('[{"value": ' + "9" * 5_000 + "}]", "Exceeds the limit"),
    ],
)
def test_an_import_file_no_parser_reads_is_one_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "usage.json"
    path.write_text(text)
    with pytest.raises(context.ImportFailed) as failed:
        read_rows(path)
    [problem] = failed.value.problems
    assert (problem.row, problem.field) == (0, "file")
    assert message in problem.message


def test_free_form_json_in_an_import_is_bounded(
    database: Database, tenant_factory: Callable[..., uuid.UUID], tmp_path: Path
) -> None:
    path = tmp_path / "customers.json"
    rows = [{"name": "Acme", "arr": 1, "renewalDate": "2027-01-01", "engagement": {"n": "N"}}]
    path.write_text(json.dumps(rows).replace('"N"', "1" + "0" * 400))
    with (
        database.tenant_transaction(tenant_factory()) as conn,
        pytest.raises(context.ImportFailed) as failed,
    ):
        import_customers(conn, read_rows(path), source=str(path))
    [problem] = failed.value.problems
    assert (problem.row, problem.field) == (1, "engagement")
    assert problem.message.startswith("n: a number must be finite")
