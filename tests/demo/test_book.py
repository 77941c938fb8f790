"""The generated book, without a database: fixed by its seed, spread over every stage."""

from __future__ import annotations

import statistics

from renewflow.demo import book as books
from renewflow.demo import domain_of, generate_book
from renewflow.workflows.files import core_library


def test_the_same_seed_gives_the_same_book_and_another_seed_another() -> None:
    assert generate_book(7) == generate_book(7)
    assert generate_book(7).summary() != generate_book(8).summary()


def test_about_two_hundred_distinct_customers() -> None:
    customers = generate_book().customers
    assert 180 <= len(customers) <= 220
    assert len({c.name for c in customers}) == len(customers)
    assert len({c.external_id for c in customers}) == len(customers)


def test_arr_from_5k_to_1m_many_small_a_few_large() -> None:
    arr = [float(c.arr) for c in generate_book().customers]
    assert min(arr) >= 5_000
    assert max(arr) <= 1_000_000
    assert statistics.median(arr) < 60_000
    assert 5 <= sum(a >= 250_000 for a in arr) <= 50
    assert sum(a < 30_000 for a in arr) > len(arr) / 3


def test_every_core_workflow_range_has_customers_and_both_its_ends() -> None:
    days = {c.days for c in generate_book().customers}
    for config in core_library():
        window = config.trigger.days_until_renewal
        inside = {d for d in days if window.min <= d <= window.max}
        assert inside, config.id
        if config.id != "overdue":
            assert {window.min, window.max} <= inside, config.id
    assert {-7, -8, -15, -22, -30} <= days  # the overdue ladder's days


def test_a_few_high_risk_accounts_declining_and_close_to_renewal() -> None:
    risky = [c for c in generate_book().customers if c.high_risk]
    assert 3 <= len(risky) <= 15
    for customer in risky:
        assert customer.trend == "declining"
        assert customer.days <= 60
        active = customer.usage["active_users"]
        assert active[-1] < active[-5] < active[0]


def test_customers_have_contacts_with_one_primary_and_usage_with_a_trend() -> None:
    for customer in generate_book().customers:
        assert sum(c.primary for c in customer.contacts) == 1
        assert "economic buyer" in {c.role for c in customer.contacts}
        assert set(customer.usage) == set(books.METRICS)
        assert all(len(values) == books.WEEKS for values in customer.usage.values())
    trends = {c.trend for c in generate_book().customers}
    assert trends == {"growing", "flat", "declining"}


def test_the_csms_share_the_book() -> None:
    shares = [sum(c.csm == i for c in generate_book().customers) for i in range(3)]
    assert min(shares) >= 40


def test_the_email_domain_comes_from_the_tenant_name() -> None:
    assert domain_of("Demo CS") == "demo-cs.example"
    assert domain_of("  Ünïcode & Co!! ") == "n-code-co.example"
    assert domain_of("!!!") == "demo.example"
