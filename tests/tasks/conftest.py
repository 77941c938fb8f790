from __future__ import annotations

import pytest

from renewflow.db import Database
from tests.tasks.helpers import World, make_world


@pytest.fixture
def world(database: Database) -> World:
    return make_world(database)
