"""The renewal book: filters and sort in the URL, keyset pages, CSV export (formulas defused),
a CSM sees their own book, another tenant's customers never."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date, timedelta

from renewflow import context
from renewflow.db import Database
from tests.console.conftest import SignedIn


def _customers(database: Database, signed: SignedIn, count: int, **fields: object) -> list[str]:
    ids = []
    with database.tenant_transaction(signed.tenant) as conn:
        for i in range(count):
            customer_id, _ = context.upsert_customer(
                conn,
                context.CustomerIn.model_validate(
                    {
                        "name": f"{fields.get('prefix', 'Globex')} {i:03d}",
                        "arr": 10_000 + i * 1_000,
                        "renewalDate": (date.today() + timedelta(days=10 + i)).isoformat(),
                        **{k: v for k, v in fields.items() if k != "prefix"},
                    }
                ),
            )
            ids.append(str(customer_id))
    return ids


def test_pages_filters_and_sorts(database: Database, console_as: Callable[..., SignedIn]) -> None:
    signed = console_as("manager")
    _customers(database, signed, 60)
    first = signed.client.get("/book")
    assert first.status_code == 200
    names = re.findall(r'<a href="/customers/[^"]+">(Globex \d+)</a>', first.text)
    assert names[:2] == ["Globex 000", "Globex 001"]  # soonest renewal first
    assert len(names) == 50
    next_url = re.search(r'href="(/book\?[^"]*after=[^"]+)" rel="next"', first.text)
    assert next_url
    second = signed.client.get(next_url.group(1).replace("&amp;", "&"))
    more = re.findall(r'<a href="/customers/[^"]+">(Globex \d+)</a>', second.text)
    assert more == [f"Globex {i:03d}" for i in range(50, 60)]
    by_arr = signed.client.get("/book?sort=arr")
    assert re.findall(r">(Globex \d+)</a>", by_arr.text)[0] == "Globex 059"
    searched = signed.client.get("/book?q=Globex+007")
    assert re.findall(r">(Globex \d+)</a>", searched.text) == ["Globex 007"]
    within = signed.client.get("/book?within=15")
    assert len(re.findall(r">(Globex \d+)</a>", within.text)) == 6  # 10..15 days out
    odd = signed.client.get("/book?within=soon&sort=sideways")
    assert odd.status_code == 200
    assert "Ignored what the link asked for within, sort" in odd.text


def test_csv_export_defuses_formulas(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    signed = console_as("admin")
    _customers(database, signed, 1, prefix="=HYPERLINK(evil)")
    answer = signed.client.get("/book.csv")
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0][:3] == ["name", "arr", "currency"]
    assert rows[1][0] == "'=HYPERLINK(evil) 000"
    assert rows[1][1] == "10000.00"


def test_a_csm_sees_their_book_and_no_other_tenants(
    database: Database, console_as: Callable[..., SignedIn]
) -> None:
    csm = console_as("csm")
    other = console_as("admin")
    _customers(database, other, 3, prefix="Initech")
    _customers(database, csm, 2, prefix="Umbrella", csmEmail=csm.email)
    _customers(database, csm, 2, prefix="Hooli")  # same tenant, another CSM (none)
    page = csm.client.get("/book").text
    assert "Umbrella 000" in page
    assert "Hooli" not in page  # not their customers
    assert "Initech" not in page  # another tenant's
