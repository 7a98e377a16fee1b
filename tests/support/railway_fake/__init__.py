"""A fake Railway GraphQL API for tests (graphql-core + the schema from the reference).

Use the pytest plugin (registered in tests/conftest.py): the ``railway_fake`` fixture yields a started
`RailwayFakeServer` loaded with a fresh `default_scenario()`; ``railway_fake.url`` is the endpoint,
``railway_fake.token("account")`` a token value, ``railway_fake.mutations`` the log of every mutation
attempt, ``railway_fake.rate_limit()`` / ``fail_5xx()`` inject trouble. ``railway_unreachable_url`` is a
127.0.0.1 URL nothing listens on.
"""

from .scenario import Scenario, default_scenario, small_scenario
from .server import SCHEMA_PATH, RailwayFakeServer, load_schema

__all__ = ["RailwayFakeServer", "Scenario", "default_scenario", "small_scenario", "SCHEMA_PATH", "load_schema"]
