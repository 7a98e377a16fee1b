"""Interrupted backups: kill -9 at several stages, network loss, disk full.

Each leaves no manifest, the catalogue says failed (with the reason), no multipart upload
survives the cleanup that the next run performs, and the next run succeeds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from auditor.backup import list_backups, run_backup
from auditor.backup.stores import MIN_PART, S3Store
from auditor.errors import BackupError
from tests.backup.conftest import REPO

pytestmark = pytest.mark.slow


def big(rows: int = 220000) -> str:
    """Incompressible rows: 220k give a dump of more than one 5 MiB part."""
    return (
        "create table blobs(id int, b bytea); insert into blobs select g, "
        f"decode(md5(random()::text) || md5(random()::text), 'hex') from generate_series(1, {rows}) g"
    )


SCRIPT = r"""
import signal, sys, time
# A job started in the background by a non-interactive shell (as CI may start the suite) inherits an
# ignored SIGINT; this test is about what Ctrl-C does, so restore Python's handler explicitly.
signal.signal(signal.SIGINT, signal.default_int_handler)
from auditor.config import load_config
from auditor.backup import run_backup
from auditor.backup.stores import MIN_PART, open_store
cfg = load_config(sys.argv[1]); stage = sys.argv[2]
store = open_store(cfg.store("offsite"))
if hasattr(store, "part_size"):
    store.part_size = MIN_PART
def progress(st, **info):
    print("STAGE", st, flush=True)
    if st == stage:
        print("PAUSED", flush=True)
        time.sleep(600)
run_backup(cfg, "app", store=store, progress=progress)
print("FINISHED", flush=True)
"""


def _spawn(setup, stage, preexec=None):
    env = dict(os.environ, **setup.env)
    # its own temporary directory, so the test can see what a killed run leaves there
    env["TMPDIR"] = str(_proc_tmp(setup))
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(setup.path), stage],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
    )


def _proc_tmp(setup) -> Path:
    d = setup.tmp / "proc-tmp"
    d.mkdir(exist_ok=True)
    return d


def _files_holding(root: Path, secrets: list[str]) -> list[str]:
    """Files under `root` that contain one of `secrets` (readable ones: we run as their owner)."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {s[:3]}…" for s in secrets if s.encode() in data]
    return found


def _source_passwords(setup) -> list[str]:
    return [unquote(pw) for v in setup.env.values() if "://" in v and (pw := urlparse(v).password)]


def _wait_for(proc, word, timeout=90):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.strip())
        if line.strip() == word:
            return seen
    proc.kill()
    raise AssertionError(f"never saw {word}: {seen} {proc.stderr.read()[-2000:]}")


def _keys(seaweed, bucket):
    s3 = seaweed.client()
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="bw/").get("Contents", [])]


def _uploads(seaweed, bucket):
    return seaweed.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) or []


def _big_mysql(setup):
    import os as _os

    with setup.mysql() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE blobs (id INT PRIMARY KEY, b BLOB) ENGINE=InnoDB")
        for start in range(0, 12000, 2000):
            cur.executemany(
                "INSERT INTO blobs VALUES (%s, %s)", [(i, _os.urandom(1024)) for i in range(start, start + 2000)]
            )


def _big_redis(setup):
    import os as _os

    c = setup.redis()
    pipe = c.pipeline(transaction=False)
    for i in range(12000):
        pipe.set(f"blob:{i}", _os.urandom(1024))
    pipe.execute()


def _engine_setup(engine, request, make_setup, big_data):
    if engine == "postgres":
        setup = make_setup("s3")
        if big_data:
            setup.db.execute(big())
        return setup
    setup = request.getfixturevalue(f"{engine}_setup")("s3")
    if big_data:
        (_big_mysql if engine == "mysql" else _big_redis)(setup)
    return setup


@pytest.mark.parametrize("engine", ["postgres", "mysql", "redis"])
@pytest.mark.parametrize("stage", ["dump_started", "part_uploaded", "object_committed"])
def test_kill_9_at_stage(request, make_setup, seaweed, stage, engine):
    setup = _engine_setup(engine, request, make_setup, stage == "part_uploaded")
    proc = _spawn(setup, stage)
    _wait_for(proc, "PAUSED")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    # no file the killed run wrote holds the source's password (a MySQL option file once stayed behind)
    passwords = _source_passwords(setup)
    assert passwords, "the source URL should carry a password"
    assert _files_holding(_proc_tmp(setup), passwords) == []

    assert not [k for k in _keys(seaweed, setup.bucket) if k.endswith(".manifest.json")]
    if stage != "object_committed":
        assert _uploads(seaweed, setup.bucket), "the killed run should have left its multipart upload"

    recs = list_backups(setup.state())  # reaps the dead run
    assert len(recs) == 1 and recs[0].status == "failed"
    assert "died before finishing" in recs[0].error

    rec = run_backup(setup.config, "app")  # cleans up, then succeeds
    assert rec.status == "complete"
    assert _uploads(seaweed, setup.bucket) == []  # no orphan multipart after cleanup
    keys = _keys(seaweed, setup.bucket)
    assert rec.manifest_key in keys
    manifests = [k for k in keys if k.endswith(".manifest.json")]
    assert manifests == [rec.manifest_key]
    statuses = {r.id: r.status for r in list_backups(setup.state())}
    assert sorted(statuses.values()) == ["complete", "failed"]


def test_sigterm_aborts_upload_and_records_interrupted(make_setup, seaweed):
    setup = make_setup("s3")
    setup.db.execute(big())
    proc = _spawn(setup, "part_uploaded")
    _wait_for(proc, "PAUSED")
    os.kill(proc.pid, signal.SIGINT)  # KeyboardInterrupt in the main thread
    proc.wait(60)
    assert not [k for k in _keys(seaweed, setup.bucket) if k.endswith(".manifest.json")]
    assert _uploads(seaweed, setup.bucket) == []  # aborted by the process itself
    (rec,) = list_backups(setup.state())
    assert rec.status == "failed" and "interrupted" in rec.error


def test_network_loss_mid_upload(make_setup, seaweed):
    from tests.backup.netproxy import CuttableProxy

    up = urlparse(seaweed.endpoint)
    proxy = CuttableProxy(up.hostname, up.port)
    try:
        setup = make_setup("s3", endpoint=proxy.endpoint)
        setup.db.execute(big())
        store = S3Store.from_config(setup.config.store("offsite"), part_size=MIN_PART)

        def progress(stage, **info):
            if stage == "part_uploaded":
                proxy.cut()

        with pytest.raises(BackupError):
            run_backup(setup.config, "app", store=store, progress=progress)
        (failed,) = list_backups(setup.state())
        assert failed.status == "failed" and failed.error
        assert "S3" in failed.error or "reach" in failed.error or "upload" in failed.error
        assert not [k for k in _keys(seaweed, setup.bucket) if k.endswith(".manifest.json")]

        proxy.restore()
        rec = run_backup(setup.config, "app")
        assert rec.status == "complete"
        assert _uploads(seaweed, setup.bucket) == []
    finally:
        proxy.close()


def _limit_file_size():
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, 1024 * 1024))


def test_disk_full_local_store(make_setup):
    """RLIMIT_FSIZE stands in for a full disk (EFBIG instead of ENOSPC, same code path)."""
    setup = make_setup("local")
    setup.db.execute(big(60000))
    proc = _spawn(setup, "never", preexec=_limit_file_size)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "FINISHED" not in out
    assert "disk full" in err
    (rec,) = list_backups(setup.state())
    assert rec.status == "failed" and "disk full" in rec.error
    store_dir = setup.tmp / "store"
    assert not list(store_dir.rglob("*.manifest.json")) and not list(store_dir.rglob("*.partial"))
    ok = run_backup(setup.config, "app")
    assert ok.status == "complete" and (store_dir / ok.manifest_key).exists()
