from __future__ import annotations

import pytest

from renewflow.db import Database
from tests.api import conftest as api_conftest
from tests.tasks.helpers import World, make_world


@pytest.fixture
def world(database: Database) -> World:
    return make_world(database)


# the API tests' key factory, for this package's API tests
make_key = api_conftest.make_key
