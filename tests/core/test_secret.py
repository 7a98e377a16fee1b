from __future__ import annotations

import json
import pickle

import pytest

from auditor.model import Candidate, Credential
from auditor.secrets import Secret


def test_secret_never_shows_value() -> None:
    s = Secret("ghp_supersecretvalue1234567890")
    for text in (repr(s), str(s), f"{s}", f"{s!r}", "%s" % s):  # noqa: UP031  (old-style formatting must hide it too)
        assert "supersecret" not in text and text.startswith("Secret(sha256:")
    assert s.reveal() == "ghp_supersecretvalue1234567890"
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(AttributeError):
        s._value = "x"  # type: ignore[misc]


def test_models_never_serialise_secrets() -> None:
    cand = Candidate(
        provider="github",
        kind="pat",
        secret=Secret("ghp_supersecretvalue1234567890"),
        companions={"x": Secret("companion-secret-value")},
    )
    c = Credential.from_candidate(cand)
    for dumped in (cand.model_dump_json(), c.model_dump_json(), json.dumps(c.model_dump(mode="json")), repr(c), str(c)):
        assert "supersecret" not in dumped and "companion-secret" not in dumped
    assert c.fingerprint == cand.secret.fingerprint
