"""A cache of freshly initialised PostgreSQL clusters, so a scratch server is a copy, not an `initdb`.

`initdb` takes most of a second on every restore drill; copying its result takes a tenth of that. The
first `ScratchPostgres` of a given PostgreSQL installation copies its freshly initialised (never started)
data directory here; later ones copy it back and set their own random superuser password before the server
starts, in a single-user backend, as a SCRAM verifier computed here, so the plain password never leaves
this process (except as `PGPASSWORD` to our own client tools, as before).

Security:
- The cache root and every template in it are the invoking user's, mode 0700; anything else (another owner,
  group/other bits, a symlink) is not used and the server is initialised from scratch instead. When
  Blastwall runs as root the templates are root's; the server's user (`nobody`) only ever gets a copy.
- A template holds no usable secret: the verifier of the run that made it is replaced before every start,
  and that run's password was random and never stored.
- A template is keyed by the PostgreSQL installation (path, size and mtime of `initdb` and `postgres`) and
  by the `initdb` options; a changed installation makes a new template. A template that does not start
  is removed and the run falls back to `initdb`.
- `[verify] scratch_template = false` turns the cache off (every scratch server runs `initdb`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ClusterTemplates", "default_cache_dir", "scram_verifier"]

log = logging.getLogger(__name__)

# Bump when what a template contains changes (the initdb options are part of the key as well).
_FORMAT = "1"


def default_cache_dir() -> Path:
    override = os.environ.get("BLASTWALL_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("blastwall"))


def scram_verifier(password: str, *, iterations: int = 4096, salt: bytes | None = None) -> str:
    """PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802/7677), which `ALTER ROLE … PASSWORD`
    accepts as is. `password` must be ASCII (SASLprep leaves it unchanged then); ours are `token_urlsafe`."""
    password.encode("ascii")  # raises for anything SASLprep could change
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _private_dir_ok(path: Path) -> bool:
    """A real directory (not a symlink), ours, with no group or other permissions."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o077 == 0


def _copy_file(src: str, dst: str, mode: int, size: int) -> None:
    fi = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        fo = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            left = size
            try:
                while left > 0:  # in the kernel, no copy through this process
                    n = os.copy_file_range(fi, fo, left)
                    if n == 0:
                        break
                    left -= n
            except OSError:  # a kernel or file system without it: plain reads and writes from where it stopped
                while chunk := os.read(fi, 1 << 20):
                    os.write(fo, chunk)
        finally:
            os.close(fo)
    finally:
        os.close(fi)


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy a data directory: directories and regular files with their permission bits, nothing else (a
    symlink or special file raises). `shutil.copytree` does the same in 5x the time (metadata calls per file)."""
    os.mkdir(dst, 0o700)
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        out = str(dst) if rel == "." else os.path.join(dst, rel)
        for name in dirnames:
            st = os.lstat(os.path.join(dirpath, name))
            if not stat.S_ISDIR(st.st_mode):
                raise OSError(f"not a directory in a PostgreSQL template: {os.path.join(dirpath, name)}")
            os.mkdir(os.path.join(out, name), stat.S_IMODE(st.st_mode))
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(f"not a regular file in a PostgreSQL template: {path}")
            _copy_file(path, os.path.join(out, name), stat.S_IMODE(st.st_mode), st.st_size)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


class ClusterTemplates:
    """Templates under `root` (default: `default_cache_dir()/pg-templates`)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else default_cache_dir() / "pg-templates"

    def key(self, bin_dir: Path, initdb_args: Sequence[str]) -> str:
        h = hashlib.sha256(_FORMAT.encode())
        for tool in ("initdb", "postgres"):
            path = (bin_dir / tool).resolve()
            st = path.stat()
            h.update(f"\0{path}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        h.update("\0".join(initdb_args).encode())
        return h.hexdigest()[:24]

    def _usable_root(self) -> bool:
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            log.info("PostgreSQL template cache %s not usable: %s", self.root, exc)
            return False
        if not _private_dir_ok(self.root):
            log.warning(
                "PostgreSQL template cache %s is not a 0700 directory of this user: not used (initdb instead)",
                self.root,
            )
            return False
        return True

    def find(self, key: str) -> Path | None:
        """The template's data directory, if there is a safe, complete one."""
        if not self._usable_root():
            return None
        path = self.root / key
        if not path.exists():
            return None
        if not _private_dir_ok(path) or not (path / "PG_VERSION").is_file() or not (path / "global").is_dir():
            log.warning("PostgreSQL template %s is unsafe or incomplete: not used (initdb instead)", path)
            return None
        return path

    def copy_into(self, template: Path, data_dir: Path, owner: tuple[int, int] | None) -> None:
        """Copy a template to `data_dir` (which must not exist), owned by `owner` (uid, gid) when given."""
        _copy_tree(template, data_dir)
        if owner is not None:
            _chown_tree(data_dir, *owner)

    def save(self, key: str, data_dir: Path) -> None:
        """Keep a copy of a just-initialised (never started) `data_dir` as the template for `key`.
        Safe against concurrent savers: the copy is made aside and renamed into place; the loser discards it."""
        if not self._usable_root() or (self.root / key).exists():
            return
        aside = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
        try:
            copy = aside / "data"
            _copy_tree(data_dir, copy)  # the copy is ours (the caller's euid), whoever owns the original
            os.chmod(copy, 0o700)
            with contextlib.suppress(OSError):  # someone else was faster: theirs is as good
                os.rename(copy, self.root / key)
        except OSError as exc:
            log.info("PostgreSQL template not saved: %s", exc)
        finally:
            shutil.rmtree(aside, ignore_errors=True)

    def discard(self, key: str) -> None:
        """Remove a template that did not work (renamed away first, so no one copies half of it)."""
        path = self.root / key
        if not _private_dir_ok(path):
            return
        trash = self.root / f".trash-{key}-{os.getpid()}"
        with contextlib.suppress(OSError):
            os.rename(path, trash)
            shutil.rmtree(trash, ignore_errors=True)
