"""Signed approvals: statements, the allowed-signers file, and `ssh-keygen -Y sign/verify`.

A decision on a gated run (approve, reject) or a request for one is an SSH signature (SSHSIG,
namespace ``blastwall-approval``) over a canonical `Statement`. The statement names the run, its
workflow, target and backup, the plan's SHA-256, the decision, the gate step, when the gate
opened and the signer's principal, so a signature cannot be moved to another run, plan or decision.

Verification runs ``ssh-keygen -Y verify`` against the allowed-signers file (git's
``gpg.ssh.allowedSignersFile`` format) as it is at the moment of the check, with
``-Overify-time`` set to the gate's clock, so a key removed from the file or past its
``valid-before`` stops counting. Blastwall never sees a private key: signing runs
``ssh-keygen -Y sign -f KEY`` (the key may live in ssh-agent or on a FIDO authenticator).

The allowed-signers file is part of the gate, so it is checked like sshd's StrictModes: the file
and every directory above it must be owned by root or the runner's user and not writable by group
or others (a root-owned sticky directory such as /tmp is accepted: others cannot replace entries).
"""

from __future__ import annotations

import base64
import binascii
import os
import pwd
import re
import shutil
import stat
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ApprovalRequired, ConfigError

if TYPE_CHECKING:  # the run store (SQLAlchemy tables) is not loaded by an audit, which only reads the config
    from ..config import Config
    from ..model import Finding
    from .store import RunRecord

__all__ = [
    "NAMESPACE",
    "SIGNED_KEY_TYPES",
    "AllowedSigner",
    "approvals_findings",
    "SignatureCheck",
    "SignersFileProblem",
    "SignersFileUnsafe",
    "SshKeygen",
    "Statement",
    "check_signers_file",
    "decision_statement",
    "sk_flags",
    "parse_allowed_signers",
    "principal_for_public_key",
]

NAMESPACE = "blastwall-approval"
STATEMENT_HEADER = "blastwall approval statement v1"
NONE = "-"

# What `ssh-keygen -Y sign` produces and `-Y verify` accepts (OpenSSH >= 8.2 for the sk- types).
SIGNED_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)

_PRINCIPAL = re.compile(r"^[A-Za-z0-9._@+-]{1,200}$")


class SignersFileUnsafe(ApprovalRequired):
    """The allowed-signers file (or a directory above it) could be changed by someone else, or none
    is configured: no gate can open. An error (exit 1), not a pending approval."""

    exit_code = 1


def valid_principal(name: str) -> bool:
    """A plain principal (no pattern characters, spaces or commas): what a signer names itself."""
    return bool(_PRINCIPAL.match(name))


def _field(value: str) -> str:
    # One line per field: control characters (and backslashes) are escaped, the rest kept as is.
    return value.encode("unicode_escape").decode("ascii")


@dataclass(frozen=True)
class Statement:
    """The exact text a person signs. `text()` is byte-exact and stable across versions of v1."""

    run: str
    workflow: str
    target: str
    backup: str
    plan_sha256: str
    decision: str  # approve | reject | request
    gate_step: str
    gate_opened_at: str
    principal: str

    _KEYS = (
        ("run", "run"),
        ("workflow", "workflow"),
        ("target", "target"),
        ("backup", "backup"),
        ("plan-sha256", "plan_sha256"),
        ("decision", "decision"),
        ("gate-step", "gate_step"),
        ("gate-opened-at", "gate_opened_at"),
        ("principal", "principal"),
    )

    def text(self) -> str:
        lines = [STATEMENT_HEADER] + [f"{k}: {_field(getattr(self, a))}" for k, a in self._KEYS]
        return "\n".join(lines) + "\n"

    def data(self) -> bytes:
        return self.text().encode("ascii")

    @classmethod
    def parse(cls, text: str) -> Statement:
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if not lines or lines[0] != STATEMENT_HEADER or len(lines) != len(cls._KEYS) + 1:
            raise ValueError("not a blastwall approval statement (v1)")
        values: dict[str, str] = {}
        for (key, attr), line in zip(cls._KEYS, lines[1:], strict=True):
            prefix = f"{key}: "
            if not line.startswith(prefix):
                raise ValueError(f"statement line {line[:40]!r}: expected {key!r}")
            values[attr] = line[len(prefix) :].encode("ascii").decode("unicode_escape")
        return cls(**values)

    def mismatches(self, expected: Statement) -> list[str]:
        """Human-readable differences, naming each field that is not what this run expects."""
        out = []
        for key, attr in self._KEYS:
            got, want = getattr(self, attr), getattr(expected, attr)
            if got != want:
                out.append(f"{key} is {got!r}, expected {want!r}")
        return out


@dataclass(frozen=True)
class AllowedSigner:
    line: int
    principals: tuple[str, ...]
    options: str
    key_type: str
    key_b64: str


def _split_options(rest: str) -> tuple[str, str]:
    """Split 'options keytype key…' (options may hold quoted spaces) into (options, remainder)."""
    i, quoted = 0, False
    while i < len(rest):
        ch = rest[i]
        if ch == '"':
            quoted = not quoted
        elif ch in " \t" and not quoted:
            break
        i += 1
    return rest[:i], rest[i:].strip()


def parse_allowed_signers(text: str) -> list[AllowedSigner]:
    """Parse the allowed-signers format (ssh-keygen(1) "ALLOWED SIGNERS"). Unknown lines are skipped:
    ssh-keygen is the authority at verification time; this parser only serves look-ups and audits."""
    out: list[AllowedSigner] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) < 2:
            continue
        principals, rest = parts[0], parts[1]
        options = ""
        first = rest.split(None, 1)[0]
        if first not in SIGNED_KEY_TYPES and not first.endswith("-cert-v01@openssh.com"):
            options, rest = _split_options(rest)
        kparts = rest.split()
        if len(kparts) < 2:
            continue
        out.append(AllowedSigner(n, tuple(principals.split(",")), options, kparts[0], kparts[1]))
    return out


def principal_for_public_key(signers_file: Path, public_key: str) -> str:
    """The single plain principal that `public_key` ('type base64 [comment]') is enrolled as."""
    parts = public_key.split()
    if len(parts) < 2:
        raise ConfigError(f"not an SSH public key: {public_key[:30]!r}")
    names = {
        p
        for s in parse_allowed_signers(signers_file.read_text(encoding="utf-8"))
        if (s.key_type, s.key_b64) == (parts[0], parts[1])
        for p in s.principals
        if valid_principal(p)
    }
    if len(names) != 1:
        raise ApprovalRequired(
            f"the key {parts[0]} …{parts[1][-12:]} is enrolled in {signers_file} as "
            + (", ".join(sorted(names)) if names else "nobody"),
            hint="name the principal to sign as with --as PRINCIPAL",
        )
    return names.pop()


# -- FIDO signatures: the user-presence flag -------------------------------------------------

SK_USER_PRESENT = 0x01


def _take(buf: bytes, at: int) -> tuple[bytes, int]:
    if at + 4 > len(buf):
        raise ValueError("truncated")
    (n,) = struct.unpack(">I", buf[at : at + 4])
    if at + 4 + n > len(buf):
        raise ValueError("truncated")
    return buf[at + 4 : at + 4 + n], at + 4 + n


def sk_flags(signature: str) -> int | None:
    """The authenticator flags of an sk- SSHSIG (PROTOCOL.sshsig, PROTOCOL.u2f); None for other key
    types or an unparsable signature (ssh-keygen then decides)."""
    lines = [ln.strip() for ln in signature.strip().splitlines()]
    try:
        env = base64.b64decode("".join(ln for ln in lines if ln and not ln.startswith("-----")), validate=True)
        if env[:6] != b"SSHSIG":
            return None
        at = 10  # magic + uint32 version
        for _ in range(4):  # public key, namespace, reserved, hash algorithm
            _, at = _take(env, at)
        blob, _ = _take(env, at)
        kind, pos = _take(blob, 0)
        if not kind.startswith(b"sk-"):
            return None
        _, pos = _take(blob, pos)
        return blob[pos] if pos < len(blob) else None
    except (ValueError, IndexError, binascii.Error):
        return None


# -- the signers file is part of the gate --------------------------------------------------------


@dataclass(frozen=True)
class SignersFileProblem:
    path: str
    owner: str
    mode: str
    refuse: bool  # True: group/other-writable or foreign owner. False: owned by the runner's user.
    message: str


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def check_signers_file(path: Path, *, euid: int | None = None) -> list[SignersFileProblem]:
    """StrictModes for the allowed-signers file and every directory above it.

    Refused: writable by group or others (except a root-owned sticky directory such as /tmp), or owned
    by anyone but root or the runner's user. Reported, not refused: owned by the runner's own user
    (a process running as that user, an agent included, could enrol itself)."""
    me = os.geteuid() if euid is None else euid
    real = Path(os.path.realpath(path))
    try:
        st = real.stat()
    except OSError as exc:
        raise ConfigError(
            f"[approvals] allowed_signers {path}: cannot read it ({exc.strerror})",
            hint="enrol approvers in an allowed-signers file owned by root (see the README, Approvals)",
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"[approvals] allowed_signers {path} is not a regular file")
    problems: list[SignersFileProblem] = []
    chain = [real, *real.parents]
    for p in chain:
        st = p.stat()
        mode = stat.S_IMODE(st.st_mode)
        who, shown = _owner(st.st_uid), f"{mode:04o}"
        kind = "file" if p == real else "directory"
        sticky_root_dir = p != real and st.st_uid == 0 and bool(mode & stat.S_ISVTX)
        if mode & 0o022 and not sticky_root_dir:
            problems.append(
                SignersFileProblem(
                    str(p),
                    who,
                    shown,
                    True,
                    f"the allowed-signers {kind} {p} (owner {who}, mode {shown}) is writable by "
                    f"{'group and others' if mode & 0o022 == 0o022 else 'group' if mode & 0o020 else 'others'}",
                )
            )
        elif st.st_uid not in (0, me):
            problems.append(
                SignersFileProblem(
                    str(p),
                    who,
                    shown,
                    True,
                    f"the allowed-signers {kind} {p} (owner {who}, mode {shown}) is owned by {who}, "
                    f"neither root nor the user that runs Blastwall ({_owner(me)})",
                )
            )
        elif st.st_uid == me and (p == real or me != 0):
            problems.append(
                SignersFileProblem(
                    str(p),
                    who,
                    shown,
                    False,
                    f"the allowed-signers {kind} {p} (owner {who}, mode {shown}) is owned by the user "
                    f"that runs Blastwall: any process running as {who}, an AI agent included, could "
                    "enrol its own key",
                )
            )
    return problems


# -- ssh-keygen ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    reason: str
    key: str | None = None  # the signing key's fingerprint (SHA256:…) when ssh-keygen named it


_FPR = re.compile(r"(SHA256:[A-Za-z0-9+/=]+)")


def _verify_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


class SshKeygen:
    """`ssh-keygen -Y` as a subprocess. Messages go through stdin; signatures through a private
    temporary directory; nothing of a private key is ever read, passed or logged here."""

    def __init__(self, program: str | None = None, timeout_s: float = 30.0) -> None:
        found = program or shutil.which("ssh-keygen")
        if not found:
            raise ConfigError(
                "ssh-keygen was not found; signed approvals need OpenSSH's ssh-keygen (8.2 or later)",
                hint="install openssh-client",
            )
        self.program = found
        self.timeout_s = timeout_s

    def _run(self, args: Sequence[str], stdin: bytes | None) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                [self.program, *args],
                input=stdin,
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
                env={**os.environ, "LC_ALL": "C"},
            )
        except subprocess.TimeoutExpired as exc:
            raise ApprovalRequired(f"ssh-keygen {' '.join(args[:2])} timed out") from exc

    def sign(self, key: Path, statement: Statement) -> str:
        """Sign with `ssh-keygen -Y sign -f KEY` (private key file, or its .pub with the key in
        ssh-agent or on a FIDO authenticator). Prompts (passphrase, touch) reach the terminal."""
        if not key.exists():
            raise ApprovalRequired(f"no key at {key}", hint="pass --key PATH to your SSH key (or its .pub)")
        with tempfile.TemporaryDirectory(prefix="blastwall-sign-") as tmp:
            msg = Path(tmp) / "statement.txt"
            msg.write_bytes(statement.data())
            try:
                p = subprocess.run(
                    [self.program, "-Y", "sign", "-n", NAMESPACE, "-f", str(key), str(msg)],
                    stdout=subprocess.DEVNULL,
                    timeout=max(self.timeout_s, 120.0),  # a person may have to touch a key
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise ApprovalRequired("ssh-keygen -Y sign timed out (no touch on the key?)") from exc
            sig = msg.with_name("statement.txt.sig")
            if p.returncode != 0 or not sig.exists():
                raise ApprovalRequired(
                    f"ssh-keygen -Y sign with {key} failed (exit {p.returncode}); nothing was recorded",
                    hint="check the key path, your ssh-agent, or touch your hardware key when it blinks",
                )
            return sig.read_text(encoding="ascii")

    def _with_sig(self, signature: str) -> tuple[tempfile.TemporaryDirectory[str], Path]:
        tmp = tempfile.TemporaryDirectory(prefix="blastwall-verify-")
        sig = Path(tmp.name) / "decision.sig"
        sig.write_text(signature, encoding="ascii")
        return tmp, sig

    def verify(
        self, signers: Path, principal: str, statement: Statement, signature: str, at: datetime
    ) -> SignatureCheck:
        """Verify `signature` over `statement` by `principal` per the allowed-signers file, at `at`.
        A FIDO (sk-) signature must also carry the authenticator's user-presence flag (a touch)."""
        if not signature.strip().startswith("-----BEGIN SSH SIGNATURE-----"):
            return SignatureCheck(False, "the signature is not an SSH signature (SSHSIG armour missing)")
        flags = sk_flags(signature)
        if flags is not None and not flags & SK_USER_PRESENT:
            return SignatureCheck(
                False,
                "a FIDO key signed without user presence (no touch): keys made with "
                "-O no-touch-required let software sign alone, so they do not count",
            )
        if not valid_principal(principal):
            return SignatureCheck(False, f"{principal!r} is not a plain principal name")
        try:
            signature.encode("ascii")
        except UnicodeEncodeError:
            return SignatureCheck(False, "the signature is not ASCII armour")
        tmp, sig = self._with_sig(signature)
        with tmp:
            p = self._run(
                [
                    "-Y",
                    "verify",
                    "-f",
                    str(signers),
                    "-I",
                    principal,
                    "-n",
                    NAMESPACE,
                    "-s",
                    str(sig),
                    f"-Overify-time={_verify_time(at)}",
                ],
                statement.data(),
            )
            out = p.stdout.decode("utf-8", "replace")
            if p.returncode == 0:
                m = _FPR.search(out)
                return SignatureCheck(True, f"good signature by {principal}", m.group(1) if m else None)
            return SignatureCheck(False, self._diagnose(signers, principal, statement, sig, at, p))

    def matches(self, statement: Statement, signature: str) -> bool:
        """`ssh-keygen -Y check-novalidate`: a well-formed signature over `statement` (any key)."""
        if not signature.strip().startswith("-----BEGIN SSH SIGNATURE-----"):
            return False
        tmp, sig = self._with_sig(signature)
        with tmp:
            p = self._run(["-Y", "check-novalidate", "-n", NAMESPACE, "-s", str(sig)], statement.data())
            return p.returncode == 0

    def _diagnose(
        self,
        signers: Path,
        principal: str,
        statement: Statement,
        sig: Path,
        at: datetime,
        failed: subprocess.CompletedProcess[bytes],
    ) -> str:
        """Name what did not match: the message, the namespace, the key's enrolment, its validity."""
        err = _last_line(failed.stderr.decode("utf-8", "replace"))
        chk = self._run(["-Y", "check-novalidate", "-n", NAMESPACE, "-s", str(sig)], statement.data())
        if chk.returncode != 0:
            return (
                "the signature does not match this statement (it was made over different text, in another "
                f"namespace than {NAMESPACE!r}, or is corrupt); pass the signed text with --statement FILE "
                "to see which field differs"
            )
        m = _FPR.search(chk.stdout.decode("utf-8", "replace"))
        key = m.group(1) if m else "the signing key"
        found = self._run(
            ["-Y", "find-principals", "-f", str(signers), "-s", str(sig), f"-Overify-time={_verify_time(at)}"], None
        )
        names = found.stdout.decode("utf-8", "replace").split() if found.returncode == 0 else []
        if names and principal not in names:
            return f"signed with {key}, which is enrolled as {', '.join(names)}, not as {principal}"
        expired = re.search(r"(key (?:has expired|is not yet valid)[^\n]*)", failed.stderr.decode("utf-8", "replace"))
        if expired:
            return f"{key} is enrolled for {principal} but not valid at {at:%Y-%m-%dT%H:%M:%SZ}: {expired.group(1)}"
        if not names:
            return f"signed with {key}, which is not enrolled in {signers} (for {principal} or anyone else)"
        return f"signature by {key} for {principal} did not verify: {err or 'ssh-keygen refused it'}"


def decision_statement(run: RunRecord, decision: str, principal: str) -> Statement:
    """The statement for a decision on `run` (at its gate) by `principal`; `request`: the run's request."""
    from .store import iso

    params = run.params or {}
    if decision == "request":
        plan, step, opened = NONE, NONE, NONE
    else:
        plan = run.plan_sha256 or NONE
        step = run.gate_step or NONE
        opened = iso(run.gate_opened_at) or NONE
    return Statement(
        run=run.id,
        workflow=run.workflow,
        target=str(params.get("target", NONE)),
        backup=str(params.get("backup_id", NONE)),
        plan_sha256=plan,
        decision=decision,
        gate_step=step,
        gate_opened_at=opened,
        principal=principal,
    )


# -- audit ------------------------------------------------------------------------------------


def approvals_findings(config: Config, base_dir: Path | None = None) -> list[Finding]:
    """Audit findings about the approval gate itself: unauthenticated mode, an allowed-signers file that
    the runner's user (or anyone else) could change, the override that accepts one, no file at all."""
    from ..model import Finding, Severity

    cfg = config.approvals
    subject = "blastwall:approvals"
    out: list[Finding] = []

    def add(rule: str, sev: Severity, message: str, fix: str, path: str | None = None) -> None:
        out.append(Finding.make(rule, sev, subject, message, fix, provider="blastwall", path=path))

    if cfg.mode == "unauthenticated":
        add(
            "approvals.unauthenticated",
            Severity.high,
            'approvals are not authenticated ([approvals] mode = "unauthenticated"): any process that can '
            "run blastwall or write its state database, an AI agent included, can approve its own restore",
            'enrol approvers\' SSH keys in [approvals] allowed_signers and remove mode = "unauthenticated"',
        )
        return out
    if cfg.allow_writable_signers:
        add(
            "approvals.writable_signers_allowed",
            Severity.high,
            "[approvals] allow_writable_signers = true: the gate trusts an allowed-signers file that others "
            "may be able to change",
            "make the file and its directories root-owned and not group/other-writable, then remove the override",
        )
    if not cfg.allowed_signers:
        if config.targets:
            add(
                "approvals.no_signers",
                Severity.medium,
                "no [approvals] allowed_signers file is configured: no restore can be approved",
                'enrol approvers: [approvals] allowed_signers = "/etc/blastwall/allowed_signers"',
            )
        return out
    path = Path(cfg.allowed_signers).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        problems = check_signers_file(path)
    except ConfigError as exc:
        add("approvals.signers_unreadable", Severity.high, exc.message, "create the file (see the README)", str(path))
        return out
    for p in problems:
        if p.refuse:
            add(
                "approvals.signers_file_unsafe",
                Severity.high,
                p.message
                + (
                    "; accepted only because allow_writable_signers = true"
                    if cfg.allow_writable_signers
                    else "; the gate refuses to open"
                ),
                f"chown root:root {p.path} && chmod go-w {p.path}",
                p.path,
            )
        else:
            add(
                "approvals.signers_owned_by_runner",
                Severity.high if p.path == str(path.resolve()) else Severity.medium,
                p.message,
                "run Blastwall as a dedicated user and make the allowed-signers file (and its directories) "
                f"owned by root: chown root:root {p.path} && chmod 0644 {p.path}",
                p.path,
            )
    try:
        signers = parse_allowed_signers(path.read_text(encoding="utf-8"))
    except OSError:
        signers = []
    soft = sorted({pr for s in signers if not s.key_type.startswith("sk-") for pr in s.principals})
    if soft:
        add(
            "approvals.software_keys",
            Severity.low,
            f"approvers without a hardware key: {', '.join(soft)} (a software key on a machine an agent "
            "also uses can sign without a person)",
            "enrol FIDO keys (ssh-keygen -t ed25519-sk) that need a touch to sign",
        )
    return out
