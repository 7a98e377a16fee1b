"""The contract suite itself cannot pass on nothing: a provider without recognition samples or prose decoys
fails it, and so does one whose identification did not verify against the healthy fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from auditor.model import Credential
from auditor.provider import ProviderContext
from providers.github import GitHubProvider
from tests.providers import test_github as github_tests  # not imported by name: pytest would collect it twice
from tests.support.fakes.github import FakeGitHub


class _NoSamples(github_tests.TestGitHubContract):
    __test__ = False
    prose_decoys = ()

    def recognition_samples(self, canaries: Any) -> list[tuple[str, str, str]]:
        return []


class _NeverVerifies(GitHubProvider):
    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        return credential  # stays unverified: nothing after identification would be checked


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGitHub]:
    server = FakeGitHub().start()
    yield server
    server.stop()


def test_a_provider_without_recognition_samples_fails(canaries: Any) -> None:
    suite = _NoSamples()
    with pytest.raises(AssertionError, match="supplies no sample"):
        suite.test_recognises_its_formats(GitHubProvider(), canaries)
    with pytest.raises(AssertionError, match="no prose_decoys"):
        suite.test_no_false_positives_on_prose(GitHubProvider())


def test_identification_that_did_not_verify_fails(fake: FakeGitHub, canaries: Any) -> None:
    suite = github_tests.TestGitHubContract()
    with pytest.raises(AssertionError):
        suite.test_malformed_inventory_is_a_gap(_NeverVerifies(), fake, canaries)
    suite.test_malformed_inventory_is_a_gap(GitHubProvider(), fake, canaries)  # the real one passes
