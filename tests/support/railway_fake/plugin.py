"""pytest plugin: the fake Railway API as fixtures other test areas can use."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from .scenario import default_scenario
from .server import RailwayFakeServer


@pytest.fixture(scope="session")
def railway_fake_server() -> Iterator[RailwayFakeServer]:
    """One server per test session (per xdist worker); use ``railway_fake`` for a fresh scenario."""
    srv = RailwayFakeServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def railway_fake(railway_fake_server: RailwayFakeServer) -> Iterator[RailwayFakeServer]:
    """The fake Railway API with a fresh `default_scenario()` (new random tokens) and empty logs."""
    railway_fake_server.load(default_scenario())
    railway_fake_server.reset()
    yield railway_fake_server
    railway_fake_server.reset()


@pytest.fixture
def railway_unreachable_url() -> str:
    """A GraphQL URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/graphql/v2"
