"""The parallel scan: the same result, in the same order, whatever the number of worker processes."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from auditor.discovery import DiscoveryOptions, discover
from auditor.registry import load_providers
from tests.support.canary import Canaries
from tests.support.planted import dop, gh, npm, sk_live


def _recognisers() -> list:  # type: ignore[type-arg]
    providers, _ = load_providers(include_plugins=False)
    return [r for p in providers.values() for r in p.recognisers()]


def _tree(root: Path, canaries: Canaries, n_files: int = 1_500) -> None:
    rng = random.Random(3)
    makers = [gh, dop, npm, sk_live]
    for i in range(n_files):
        d = root / f"d{i % 7}" / f"s{i % 13}"
        d.mkdir(parents=True, exist_ok=True)
        body = "\n".join(
            " ".join(rng.choice(["alpha", "token", "key", "deploy"]) for _ in range(8))
            for _ in range(rng.randint(1, 30))
        )
        if i % 37 == 0:
            body += f"\nSECRET_{i} = {canaries.add(rng.choice(makers)())}\n"
        name = [f"f{i}.py", f"f{i}.md", ".env", f"f{i}.json"][i % 4] if i % 4 != 2 else f".env.{i}"
        (d / name).write_text(body)
    # the same token in two files (one credential, two sources, in walk order)
    shared = canaries.add(gh())
    (root / "d1" / "a.env").write_text(f"GITHUB_TOKEN={shared}\n")
    (root / "d5" / "b.env").write_text(f"GITHUB_TOKEN={shared}\n")
    # agent config, malformed JSON, a too-large file, a symlink loop, a hard link (scanned once), .git/config
    (root / ".cursor").mkdir()
    (root / ".cursor" / "mcp.json").write_text(
        '{"mcpServers": {"x": {"env": {"NPM_TOKEN": "' + canaries.add(npm()) + '"}}, oops'
    )
    (root / "d2" / "huge.log").write_bytes(b"x" * (2 * 1024 * 1024 + 1))
    os.symlink("..", root / "d3" / "loop")
    os.link(root / "d1" / "a.env", root / "d6" / "hardlink.env")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text(f"[remote]\n\turl = https://x:{canaries.add(gh())}@github.com/o/r\n")


def _snapshot(root: Path, jobs: int) -> tuple[object, ...]:
    r = discover(_recognisers(), DiscoveryOptions(paths=[root], jobs=jobs, max_file_bytes=2 * 1024 * 1024))
    cands = [
        (
            c.provider,
            c.kind,
            c.secret.fingerprint,
            c.sources,
            dict(c.hints),
            {k: v.fingerprint for k, v in c.companions.items()},
        )
        for c in r.candidates
    ]
    return cands, sorted(r.stats.items()), [(g.subject, g.reason) for g in r.gaps]


@pytest.mark.slow
def test_result_is_identical_for_any_worker_count(tmp_path: Path, canaries: Canaries) -> None:
    root = tmp_path / "tree"
    _tree(root, canaries)
    serial = _snapshot(root, 1)
    cands, stats, gaps = serial
    assert len(cands) >= 40
    assert dict(stats)["files_scanned"] > 1_500 and dict(stats)["files_too_large"] == 1
    assert dict(stats)["symlink_loops"] >= 1 and dict(stats)["files_malformed"] >= 1
    shared = [c for c in cands if "b.env" in {Path(s.path).name for s in c[3]}]
    # one credential, two sources: a.env and its hard link are one file, scanned once
    assert len(shared) == 1 and len(shared[0][3]) == 2
    assert len({Path(s.path).name for s in shared[0][3]} & {"a.env", "hardlink.env"}) == 1
    assert any(s.category.value == "agent_config" for c in cands for s in c[3])
    assert any(Path(s.path).name == "config" for c in cands for s in c[3])
    for jobs in (2, 3):
        assert _snapshot(root, jobs) == serial, f"jobs={jobs} differs from the serial scan"


def test_parallel_scan_is_used_for_big_trees(
    tmp_path: Path, canaries: Canaries, monkeypatch: pytest.MonkeyPatch
) -> None:
    import auditor.discovery as disc

    calls: list[int] = []
    real = disc._Scanner._scan_parallel

    def spy(self, stream, jobs):  # type: ignore[no-untyped-def]
        calls.append(jobs)
        return real(self, stream, jobs)

    monkeypatch.setattr(disc._Scanner, "_scan_parallel", spy)
    _tree(tmp_path / "big", canaries, n_files=700)
    discover(_recognisers(), DiscoveryOptions(paths=[tmp_path / "big"], jobs=2))
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / ".env").write_text(f"NPM_TOKEN={canaries.add(npm())}\n")
    discover(_recognisers(), DiscoveryOptions(paths=[tmp_path / "small"], jobs=2))
    assert calls == [2], "a big tree is scanned by workers, a small one in-process"


def test_scan_workers_end_on_sigterm_whatever_the_parent_handler() -> None:
    """`backup run` makes SIGTERM raise KeyboardInterrupt; the scan's forked workers must not inherit that, or
    terminating the pool waits for a worker stuck unwinding (seen as a 300 s hang when a scan followed an
    in-process `backup run` in the same test worker)."""
    import signal

    from auditor.discovery import scan_pool

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        with scan_pool(2) as pool:
            assert pool.apply(signal.getsignal, (signal.SIGTERM,)) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, before)
