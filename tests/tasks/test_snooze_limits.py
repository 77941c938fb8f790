"""A snooze names an instant: a wall-clock `until` without a zone is refused naming the field (not
compared with an aware `now`, which raised TypeError), and a tenant's snooze window is capped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from renewflow import tasks
from renewflow.db import Database
from renewflow.errors import InvalidInputError
from renewflow.tasks import rules
from tests.tasks.helpers import World, new_task


@pytest.mark.parametrize(
    "until", [datetime(2030, 1, 1, 9), datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59)]
)
def test_a_naive_until_is_invalid_input_naming_until(
    database: Database, world: World, until: datetime
) -> None:
    with database.tenant_transaction(world.tenant_id) as conn:
        task = new_task(conn, world)
        with pytest.raises(InvalidInputError) as refused:
            tasks.snooze_task(conn, task.id, until)
    assert refused.value.field == "body.until"
    assert "time zone" in refused.value.reason


def test_a_huge_snooze_window_is_capped(database: Database, world: World) -> None:
    with database.tenant_transaction(world.tenant_id) as conn:
        task = new_task(conn, world)
        later = datetime.now(UTC) + timedelta(days=30)
        snoozed = tasks.snooze_task(conn, task.id, later, deadline_after=timedelta.max)
    assert snoozed.snooze_deadline is not None
    assert snoozed.first_snoozed_at is not None
    assert snoozed.snooze_deadline - snoozed.first_snoozed_at <= rules.MAX_SNOOZE_WINDOW
