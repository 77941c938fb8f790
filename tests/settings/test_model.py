"""Reading what `tenants.settings` holds: the current shape, the flat keys of earlier versions,
nulls written by hand or by the delivery job's slice, and sections that do not validate (read as
their defaults, each problem kept at its dotted key, never raised)."""

from __future__ import annotations

from typing import Any

import pytest

from renewflow.notify.delivery import channel_for
from renewflow.notify.errors import NotifyConfigError
from renewflow.settings import read_settings


def test_the_current_shape() -> None:
    settings = read_settings(
        {"company": {"ceo": "ceo@acme.example"}, "tasks": {"snooze_deadline_days": 3}},
        display_name="Acme",
        time_zone="Europe/Paris",
    )
    assert (settings.display_name, settings.time_zone) == ("Acme", "Europe/Paris")
    assert settings.company.ceo == "ceo@acme.example"
    assert settings.tasks.snooze_deadline_days == 3
    assert settings.problems == {}


def test_the_flat_keys_of_earlier_versions_are_still_read() -> None:
    settings = read_settings(
        {
            "vpCustomerSuccess": "vp@acme.example",
            "ceo": "ceo@acme.example",
            "warRoom": "#war-room",
            "snooze_deadline_days": 2,
        }
    )
    assert settings.company.vp_customer_success == "vp@acme.example"
    assert settings.company.ceo == "ceo@acme.example"
    assert settings.company.war_room == "#war-room"
    assert settings.tasks.snooze_deadline_days == 2
    assert settings.problems == {}


def test_a_value_in_the_section_wins_over_a_flat_key() -> None:
    settings = read_settings({"ceo": "old@acme.example", "company": {"ceo": "new@acme.example"}})
    assert settings.company.ceo == "new@acme.example"


@pytest.mark.parametrize(
    "stored",
    [
        {"notifications": None, "secrets": None},  # the delivery job's slice of a bare tenant
        {"company": None, "llm": None, "webhooks": None},
        {},
        None,
    ],
)
def test_a_top_level_null_is_a_key_not_set(stored: dict[str, Any] | None) -> None:
    settings = read_settings(stored)
    assert settings.problems == {}
    assert settings.notifications.smtp is None
    assert settings.secrets == {}


def test_a_tenant_without_delivery_gets_the_clear_error() -> None:
    for kind in ("email", "webhook"):
        with pytest.raises(NotifyConfigError) as caught:
            channel_for(kind, {"notifications": None, "secrets": None})
        assert str(caught.value) == f"{kind}: this tenant has no {kind} delivery configured"


def test_a_broken_section_is_its_default_and_named() -> None:
    settings = read_settings(
        {
            "company": {"ceo": "ceo@acme.example"},
            "notifications": {"smtp": {"host": "smtp.acme.example", "port": "lots"}},
            "llm": {"provider": "skynet"},
        }
    )
    assert settings.company.ceo == "ceo@acme.example"  # the rest is read
    assert settings.notifications.smtp is None
    assert settings.llm.provider == "mock"
    assert settings.problem("notifications.smtp") is not None
    assert settings.problem("notifications.smtp").startswith("notifications.smtp: ")  # type: ignore[union-attr]
    assert settings.problem("llm") is not None
    assert settings.problem("company") is None
    with pytest.raises(NotifyConfigError, match="the tenant's settings are invalid"):
        channel_for("email", {"notifications": {"smtp": {"host": "x", "port": "lots"}}})


def test_settings_that_are_not_an_object() -> None:
    settings = read_settings(["not", "an", "object"])
    assert settings.problems == {"": "tenants.settings must be an object"}
    assert settings.company.ceo is None
