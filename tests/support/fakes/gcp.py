"""A fake Google Cloud, written from Google's public API references, on one local root.

Each API keeps its own path under the root, as with ``BLASTWALL_GCP_URL``:
  POST /token                                             OAuth 2.0 token endpoint: JWT-bearer grant (the
       RS256 signature is verified against the public half of the account's key, ``aud`` must be
       Google's token URL, as google-auth sends it) and refresh grant (client id and secret checked)
  GET  /v1/userinfo                                       OpenID userinfo (e-mail of the token's principal)
  GET  /v3/projects:search                                Resource Manager v3 (pageSize, nextPageToken)
  POST /v3/projects/{p}:testIamPermissions                subset of the asked permissions the caller holds;
       403 PERMISSION_DENIED when it holds nothing in the project (it cannot even see it)
  GET  /v1/projects/{p}/serviceAccounts                   IAM (iam.serviceAccounts.list)
  POST /v1/projects/{p}/serviceAccounts/{e}:testIamPermissions
  POST /v1/projects/-/serviceAccounts/{e}:generateAccessToken   IAM Credentials (getAccessToken on {e})
  GET  /v1/projects/{p}/instances[/{i}/backupRuns]        Cloud SQL Admin v1 (maxResults, nextPageToken)
  GET  /storage/v1/b?project=                             Cloud Storage JSON API; /b/{b}/iam/testPermissions
Unknown or expired access tokens: 401 UNAUTHENTICATED; a missing permission: 403 PERMISSION_DENIED with
Google's error body. Pages are deliberately small (2 items) so that clients must follow nextPageToken.
Every request is logged; ``writes`` lists every non-GET except the token exchange, testIamPermissions
and generateAccessToken, i.e. anything that could change state.

Accounts are added with `add_service_account` (the test generates the key: nothing is committed) and
`add_user`; permissions per project with `grant`, per service account with `grant_on_account`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.fakehttp import FakeRequest, Reply, _Route
from tests.support.fakes._base import ProviderFake

__all__ = ["FakeGcp", "ServiceAccountKey", "new_key", "OWNER", "VIEWER", "KEY_MINTER"]

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
PAGE = 2

# permissions of the predefined roles, as far as Blastwall asks (from `gcloud iam roles describe` dumps)
OWNER = frozenset(
    {
        "resourcemanager.projects.get",
        "resourcemanager.projects.delete",
        "resourcemanager.projects.setIamPolicy",
        "cloudsql.instances.list",
        "cloudsql.instances.delete",
        "cloudsql.instances.update",
        "cloudsql.backupRuns.list",
        "cloudsql.backupRuns.delete",
        "storage.buckets.list",
        "storage.buckets.delete",
        "storage.buckets.update",
        "storage.objects.delete",
        "iam.serviceAccountKeys.create",
        "iam.serviceAccounts.actAs",
        "iam.serviceAccounts.list",
        "iam.serviceAccounts.setIamPolicy",
        "spanner.databases.drop",
        "datastore.databases.delete",
    }
)
VIEWER = frozenset(
    {
        "resourcemanager.projects.get",
        "cloudsql.instances.list",
        "cloudsql.backupRuns.list",
        "storage.buckets.list",
        "iam.serviceAccounts.list",
    }
)
KEY_MINTER = VIEWER  # project viewer; the key-minting grant is on one account (grant_on_account)


@dataclass
class ServiceAccountKey:
    email: str
    project: str
    key_id: str
    private_pem: str
    public: rsa.RSAPublicKey

    def key_file(self, token_uri: str = GOOGLE_TOKEN_URL) -> dict[str, str]:
        """The JSON layout of `gcloud iam service-accounts keys create`."""
        return {
            "type": "service_account",
            "project_id": self.project,
            "private_key_id": self.key_id,
            "private_key": self.private_pem,
            "client_email": self.email,
            "client_id": str(secrets.randbelow(10**20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "universe_domain": "googleapis.com",
        }


def new_key(email: str, project: str) -> ServiceAccountKey:
    """A fresh RSA key for a test account (generated at test time; never committed)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return ServiceAccountKey(email, project, secrets.token_hex(20), pem, key.public_key())


def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _error(code: int, status: str, message: str) -> Reply:
    return code, {
        "error": {
            "code": code,
            "message": message,
            "status": status,
            "errors": [
                {"message": message, "domain": "global", "reason": "forbidden" if code == 403 else status.lower()}
            ],
        }
    }


def _oauth_error(error: str, desc: str) -> Reply:
    return 400, {"error": error, "error_description": desc}


@dataclass
class _Principal:
    email: str
    project_perms: dict[str, set[str]] = field(default_factory=dict)
    account_perms: dict[str, set[str]] = field(default_factory=dict)  # target email -> permissions on it


class FakeGcp(ProviderFake):
    def __init__(self) -> None:
        super().__init__()
        self.principals: dict[str, _Principal] = {}
        self.keys: dict[str, ServiceAccountKey] = {}  # key id -> key (public half used)
        self.users: dict[str, tuple[str, str, str]] = {}  # refresh token -> (email, client id, client secret)
        self.access: dict[str, tuple[str, float]] = {}  # access token -> (email, expiry)
        self.issued: list[str] = []  # every access token handed out (tests treat them as canaries)
        self.projects: dict[str, dict[str, Any]] = {}
        self.service_accounts: dict[str, list[str]] = {}  # project -> emails
        self.instances: dict[str, list[dict[str, Any]]] = {}
        self.backup_runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.buckets: dict[str, list[dict[str, Any]]] = {}
        self.backups: dict[str, list[dict[str, Any]]] = {}  # project-level Backups API (retained / final)
        self.on_issue: Any = None  # callback(token) for canaries
        r = self.route
        r("POST", r"/token")(self._token)
        r("GET", r"/v1/userinfo")(self._userinfo)
        r("GET", r"/v3/projects:search")(self._search)
        r("POST", r"/v3/projects/([^/:]+):testIamPermissions")(self._test_project)
        r("GET", r"/v1/projects/([^/]+)/serviceAccounts")(self._list_accounts)
        r("POST", r"/v1/projects/([^/]+)/serviceAccounts/([^/:]+):testIamPermissions")(self._test_account)
        r("POST", r"/v1/projects/-/serviceAccounts/([^/:]+):generateAccessToken")(self._generate)
        r("GET", r"/v1/projects/([^/]+)/instances")(self._instances)
        r("GET", r"/v1/projects/([^/]+)/instances/([^/]+)/backupRuns")(self._runs)
        r("GET", r"/v1/projects/([^/]+)/backups")(self._backups)
        r("GET", r"/storage/v1/b")(self._buckets)
        r("GET", r"/storage/v1/b/([^/]+)/iam/testPermissions")(self._test_bucket)

    # -- setup ---------------------------------------------------------------------------------------------
    def add_project(self, project_id: str, number: int) -> None:
        self.projects[project_id] = {
            "name": f"projects/{number}",
            "projectId": project_id,
            "state": "ACTIVE",
            "displayName": project_id,
            "parent": "organizations/1234",
        }

    def add_service_account(self, email: str, project: str) -> ServiceAccountKey:
        key = new_key(email, project)
        self.keys[key.key_id] = key
        self.principals.setdefault(email, _Principal(email))
        self.service_accounts.setdefault(project, []).append(email)
        return key

    def revoke(self, key: ServiceAccountKey) -> None:
        self.keys.pop(key.key_id, None)

    def add_user(self, email: str, refresh_token: str, client_id: str, client_secret: str) -> None:
        self.users[refresh_token] = (email, client_id, client_secret)
        self.principals.setdefault(email, _Principal(email))

    def grant(self, email: str, project: str, perms: frozenset[str] | set[str]) -> None:
        self.principals[email].project_perms.setdefault(project, set()).update(perms)

    def grant_on_account(self, email: str, target: str, perms: set[str]) -> None:
        self.principals[email].account_perms.setdefault(target, set()).update(perms)

    @contextlib.contextmanager
    def unavailable(self, path_regex: str) -> Iterator[None]:
        """GET requests to `path_regex` answer 503 UNAVAILABLE (an API that cannot be reached) meanwhile."""
        down = _Route(
            "GET",
            re.compile(path_regex + r"\Z"),
            lambda req: _error(503, "UNAVAILABLE", "The service is currently unavailable."),
        )
        self.routes.insert(0, down)
        try:
            yield
        finally:
            self.routes.remove(down)

    @property
    def writes(self) -> list[tuple[str, str]]:
        reads = (":testIamPermissions", ":generateAccessToken")
        return [
            (m, p)
            for m, p in self.log
            if m not in ("GET", "HEAD", "OPTIONS") and p != "/token" and not p.endswith(reads)
        ]

    # -- auth ----------------------------------------------------------------------------------------------
    def _issue(self, email: str) -> dict[str, Any]:
        tok = "ya29." + secrets.token_urlsafe(48)
        self.access[tok] = (email, time.time() + 3599)
        self.issued.append(tok)
        if self.on_issue:
            self.on_issue(tok)
        return {"access_token": tok, "expires_in": 3599, "token_type": "Bearer"}

    def _token(self, req: FakeRequest) -> Reply:
        if "application/x-www-form-urlencoded" not in req.headers.get("content-type", ""):
            return _oauth_error("invalid_request", "Bad Request")
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._jwt_grant(form.get("assertion", ""))
        if grant == "refresh_token":
            user = self.users.get(form.get("refresh_token", ""))
            if user is None:
                return _oauth_error("invalid_grant", "Token has been expired or revoked.")
            if (form.get("client_id"), form.get("client_secret")) != user[1:]:
                return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
            return 200, {
                **self._issue(user[0]),
                "scope": "openid https://www.googleapis.com/auth/cloud-platform "
                "https://www.googleapis.com/auth/userinfo.email",
            }
        return _oauth_error("unsupported_grant_type", "Invalid grant_type: " + str(grant)[:40])

    def _jwt_grant(self, assertion: str) -> Reply:
        try:
            h64, c64, s64 = assertion.split(".")
            header, claims = json.loads(_b64d(h64)), json.loads(_b64d(c64))
        except ValueError:
            return _oauth_error("invalid_grant", "Invalid JWT.")
        # with a kid, that key; without one, any current key of the issuing account (as Google does)
        candidates = (
            [self.keys[header["kid"]]]
            if header.get("kid") in self.keys
            else []
            if header.get("kid")
            else [k for k in self.keys.values() if k.email == claims.get("iss")]
        )
        key = next((k for k in candidates if self._signed_by(k, h64, c64, s64)), None)
        if header.get("alg") != "RS256" or key is None:
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        now = time.time()
        if claims.get("iss") != key.email or claims.get("aud") != GOOGLE_TOKEN_URL:
            return _oauth_error(
                "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
            )
        if not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0)) or claims["exp"] - claims["iat"] > 3600:
            return _oauth_error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
            )
        if not claims.get("scope"):
            return _oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        return 200, self._issue(key.email)

    @staticmethod
    def _signed_by(key: ServiceAccountKey, h64: str, c64: str, s64: str) -> bool:
        try:
            key.public.verify(_b64d(s64), f"{h64}.{c64}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True

    def _who(self, req: FakeRequest) -> tuple[_Principal | None, Reply | None]:
        hit = self.access.get(req.bearer() or "")
        if hit is None or hit[1] < time.time():
            return None, _error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. "
                "Expected OAuth 2 access token, login cookie or other valid authentication "
                "credential.",
            )
        return self.principals[hit[0]], None

    # -- helpers -------------------------------------------------------------------------------------------
    @staticmethod
    def _page(req: FakeRequest, items: list[Any], key: str, size_param: str) -> Reply:
        start = int((req.query.get("pageToken") or ["0"])[0])
        size = min(int((req.query.get(size_param) or [PAGE])[0]), PAGE)
        body: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            body["nextPageToken"] = str(start + size)
        return 200, body

    @staticmethod
    def _asked(req: FakeRequest) -> list[str]:
        try:
            body = req.json()
        except ValueError:
            return []
        perms = body.get("permissions") if isinstance(body, dict) else None
        return [str(p) for p in perms] if isinstance(perms, list) else []

    def _needs(self, who: _Principal, project: str, perm: str) -> Reply | None:
        if perm not in who.project_perms.get(project, set()):
            return _error(403, "PERMISSION_DENIED", f"Permission '{perm}' denied on resource (or it may not exist).")
        return None

    # -- handlers ------------------------------------------------------------------------------------------
    def _userinfo(self, req: FakeRequest) -> Reply:
        who, e = self._who(req)
        if e:
            return e
        assert who is not None
        return 200, {"sub": str(abs(hash(who.email))), "email": who.email, "email_verified": True}

    def _search(self, req: FakeRequest) -> Reply:
        who, e = self._who(req)
        if e:
            return e
        assert who is not None
        visible = [
            p
            for pid, p in sorted(self.projects.items())
            if "resourcemanager.projects.get" in who.project_perms.get(pid, set())
        ]
        return self._page(req, visible, "projects", "pageSize")

    def _test_project(self, req: FakeRequest) -> Reply:
        who, e = self._who(req)
        if e:
            return e
        assert who is not None and req.match is not None
        project = req.match.group(1)
        held = who.project_perms.get(project, set())
        if project not in self.projects or not held:
            return _error(403, "PERMISSION_DENIED", "The caller does not have permission")
        return 200, {"permissions": [p for p in self._asked(req) if p in held]}

    def _list_accounts(self, req: FakeRequest) -> Reply:
        who, e = self._who(req)
        if e:
            return e
        assert who is not None and req.match is not None
        project = req.match.group(1)
        e = self._needs(who, project, "iam.serviceAccounts.list")
        if e:
            return e
        accounts = [
            {
                "name": f"projects/{project}/serviceAccounts/{m}",
                "projectId": project,
                "email": m,
                "uniqueId": str(abs(hash(m))),
            }
            for m in self.service_accounts.get(project, [])
        ]
        return self._page(req, accounts, "accounts", "pageSize")

    def _account_perms(self, who: _Principal, target: str) -> set[str]:
        project = next((p for p, ms in self.service_accounts.items() if target in ms), "")
        inherited = {p for p in who.project_perms.get(project, set()) if p.startswith("iam.serviceAccount")}
        return inherited | who.account_perms.get(target, set())

    def _test_account(self, req: FakeRequest) -> Reply:
        who, e = self._who(req)
        if e:
            return e
        assert who is not None and req.match is not None
        held = self._account_perms(who, req.match.group(2))
        return 200, {"permissions": [p for p in self._asked(req) if p in held]}

    def _generate(self, req: FakeRequest) -> Reply:
        who, e = self._who(req)
        if e:
            return e
        assert who is not None and req.match is not None
        target = req.match.group(1)
        if "iam.serviceAccounts.getAccessToken" not in self._account_perms(who, target):
            return _error(
                403,
                "PERMISSION_DENIED",
                "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
            )
        tok = self._issue(target)["access_token"]
        expire = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3599))
        return 200, {"accessToken": tok, "expireTime": expire}

    def _instances(self, req: FakeRequest) -> Reply:
        who, e = self._who(req)
        if e:
            return e
        assert who is not None and req.match is not None
        project = req.match.group(1)
        e = self._needs(who, project, "cloudsql.instances.list")
        if e:
            return e
        status, body = self._page(req, self.instances.get(project, []), "items", "maxResults")[:2]
        return status, {"kind": "sql#instancesList", **body}

    def _runs(self, req: FakeRequest) -> Reply:
        who, e = self._who(req)
        if e:
            return e
        assert who is not None and req.match is not None
        project, inst = req.match.groups()
        e = self._needs(who, project, "cloudsql.backupRuns.list")
        if e:
            return e
        status, body = self._page(req, self.backup_runs.get((project, inst), []), "items", "maxResults")[:2]
        return status, {"kind": "sql#backupRunsList", **body}

    def _backups(self, req: FakeRequest) -> Reply:
        who, e = self._who(req)
        if e:
            return e
        assert who is not None and req.match is not None
        project = req.match.group(1)
        e = self._needs(who, project, "cloudsql.backupRuns.list")
        if e:
            return e
        return self._page(req, self.backups.get(project, []), "backups", "pageSize")

    def _buckets(self, req: FakeRequest) -> Reply:
        who, e = self._who(req)
        if e:
            return e
        assert who is not None
        project = (req.query.get("project") or [""])[0]
        e = self._needs(who, project, "storage.buckets.list")
        if e:
            return e
        status, body = self._page(req, self.buckets.get(project, []), "items", "maxResults")[:2]
        return status, {"kind": "storage#buckets", **body}

    def _test_bucket(self, req: FakeRequest) -> Reply:
        who, e = self._who(req)
        if e:
            return e
        assert who is not None and req.match is not None
        name = req.match.group(1)
        project = next((p for p, bs in self.buckets.items() if any(b["name"] == name for b in bs)), "")
        held = who.project_perms.get(project, set())
        asked = req.query.get("permissions") or []
        return 200, {"kind": "storage#testIamPermissionsResponse", "permissions": [p for p in asked if p in held]}

    # -- a realistic estate --------------------------------------------------------------------------------
    def seed_estate(self) -> None:
        """Two projects: ``shop-prod`` (a PostgreSQL instance with automated and on-demand backups, a bucket
        with an unlocked retention policy, a bucket with a locked one) and ``shop-staging``."""
        self.add_project("shop-prod", 415104041262)
        self.add_project("shop-staging", 415104041263)
        self.instances["shop-prod"] = [
            {
                "kind": "sql#instance",
                "name": "orders-db",
                "project": "shop-prod",
                "region": "europe-west1",
                "databaseVersion": "POSTGRES_16",
                "state": "RUNNABLE",
                "instanceType": "CLOUD_SQL_INSTANCE",
                "connectionName": "shop-prod:europe-west1:orders-db",
                "ipAddresses": [
                    {"type": "PRIMARY", "ipAddress": "127.0.0.1"},
                    {"type": "OUTGOING", "ipAddress": "35.187.0.9"},
                ],
                "settings": {
                    "tier": "db-custom-2-7680",
                    "deletionProtectionEnabled": True,
                    "backupConfiguration": {
                        "enabled": True,
                        "startTime": "03:00",
                        "pointInTimeRecoveryEnabled": True,
                        "transactionLogRetentionDays": 7,
                        "backupRetentionSettings": {"retentionUnit": "COUNT", "retainedBackups": 7},
                    },
                },
            },
            {
                "kind": "sql#instance",
                "name": "legacy-mysql",
                "project": "shop-prod",
                "region": "europe-west1",
                "databaseVersion": "MYSQL_8_0",
                "state": "RUNNABLE",
                "connectionName": "shop-prod:europe-west1:legacy-mysql",
                "settings": {
                    "retainBackupsOnDelete": True,
                    "backupConfiguration": {"enabled": True, "binaryLogEnabled": True},
                },
            },
            {
                "kind": "sql#instance",
                "name": "analytics-pg",
                "project": "shop-prod",
                "region": "us-central1",
                "databaseVersion": "POSTGRES_15",
                "state": "RUNNABLE",
                "connectionName": "shop-prod:us-central1:analytics-pg",
                "settings": {},
            },
        ]
        self.backup_runs[("shop-prod", "orders-db")] = [
            {
                "kind": "sql#backupRun",
                "id": str(1733194800000 + i),
                "status": "SUCCESSFUL",
                "type": t,
                "backupKind": "SNAPSHOT",
                "instance": "orders-db",
                "location": "eu",
                "enqueuedTime": f"2026-12-0{i + 1}T03:00:00.118Z",
                "endTime": f"2026-12-0{i + 1}T03:04:12.402Z",
            }
            for i, t in enumerate(["AUTOMATED", "AUTOMATED", "ON_DEMAND"])
        ] + [
            {
                "kind": "sql#backupRun",
                "id": "1733108400000",
                "status": "FAILED",
                "type": "AUTOMATED",
                "instance": "orders-db",
            }
        ]
        self.backup_runs[("shop-prod", "legacy-mysql")] = [
            {
                "kind": "sql#backupRun",
                "id": "1733022000000",
                "status": "SUCCESSFUL",
                "type": "ON_DEMAND",
                "instance": "legacy-mysql",
                "endTime": "2026-11-30T12:00:00Z",
            }
        ]
        # a final backup of an instance deleted last week (kept 30 days), and orders-db's latest run as the
        # Backups API also shows it (a live instance's backup: its backup runs already cover it)
        self.backups["shop-prod"] = [
            {
                "name": "projects/shop-prod/backups/7c1e9a4b-final",
                "kind": "sql#backup",
                "type": "FINAL",
                "state": "SUCCESSFUL",
                "instance": "orders-db-2024",
                "databaseVersion": "POSTGRES_14",
                "instanceDeletionTime": "2026-11-26T10:00:00Z",
                "expiryTime": "2026-12-26T10:00:00Z",
                "backupInterval": {"startTime": "2026-11-26T09:58:00Z", "endTime": "2026-11-26T10:00:00Z"},
            },
            {
                "name": "projects/shop-prod/backups/1733194800002",
                "kind": "sql#backup",
                "type": "ON_DEMAND",
                "state": "SUCCESSFUL",
                "instance": "orders-db",
                "databaseVersion": "POSTGRES_16",
            },
        ]
        self.buckets["shop-prod"] = [
            {
                "kind": "storage#bucket",
                "name": "shop-prod-uploads",
                "projectNumber": "415104041262",
                "location": "EU",
                "retentionPolicy": {"retentionPeriod": "86400", "effectiveTime": "2026-01-01T00:00:00Z"},
                "softDeletePolicy": {"retentionDurationSeconds": "604800"},
                "versioning": {"enabled": True},
            },
            {
                "kind": "storage#bucket",
                "name": "shop-prod-ledger-archive",
                "projectNumber": "415104041262",
                "location": "EU",
                "retentionPolicy": {
                    "retentionPeriod": "31536000",
                    "isLocked": True,
                    "effectiveTime": "2026-01-01T00:00:00Z",
                },
            },
            {"kind": "storage#bucket", "name": "shop-prod-logs", "projectNumber": "415104041262", "location": "EU"},
        ]
        self.buckets["shop-staging"] = [
            {"kind": "storage#bucket", "name": "shop-staging-assets", "projectNumber": "415104041263", "location": "US"}
        ]
