"""DigitalOcean provider.

identify(): ``GET /v2/account`` (who, which team). DigitalOcean reports no token scopes, so by default
the verdict stays unknown. With ``probe_writes`` the scopes are learnt the safe way: only deliberately
invalid requests (DELETE of IDs that cannot exist: 404 = allowed, 403 = not; a create with an empty
body: 422 = allowed). A probe write that unexpectedly succeeds aborts the probe with an error.
inventory(): managed databases (their backups are destroyed with the cluster), Droplets (their
backups too), volumes, and snapshots (they survive a Droplet destroy, unless the "dangerous"
destroy-with-associated-resources endpoint is used).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from auditor.errors import ProviderAuthError, ProviderError
from auditor.http import ApiClient, BearerAuth
from auditor.model import (
    Backup,
    CannotDestroyType,
    Candidate,
    CoverageGap,
    Credential,
    DestroyFact,
    Inventory,
    Resource,
    Status,
)
from auditor.provider import FileRule, ProviderContext, Recogniser
from auditor.provider_http import SHAPE_ERRORS, HttpProvider

log = logging.getLogger(__name__)

NAME = "digitalocean"
DEFAULT_URL = "https://api.digitalocean.com"
URL_ENV = "BLASTWALL_DIGITALOCEAN_URL"
PAGE = 100

_B = r"(?<![A-Za-z0-9_])"
_E = r"(?![A-Za-z0-9_])"
PREFIXES = {"dop_v1_": "personal_access_token", "doo_v1_": "oauth_token", "dor_v1_": "oauth_refresh_token"}
_VALUE = re.compile(r"(?:do[por]_v1_)?[a-f0-9]{64}")
ENV_NAMES = frozenset(
    {"DIGITALOCEAN_ACCESS_TOKEN", "DIGITALOCEAN_TOKEN", "DO_TOKEN", "DO_API_TOKEN", "digitalocean_token"}
)

NIL = "00000000-0000-4000-8000-000000000000"
# capability -> (method, path, json body or None). Every one targets an ID that cannot exist or sends an
# invalid body, so an allowed request fails with 404/422 and a forbidden one with 403.
PROBES: dict[str, tuple[str, str, Any]] = {
    "delete:database": ("DELETE", f"/v2/databases/{NIL}", None),
    "delete:droplet": ("DELETE", "/v2/droplets/0", None),
    "delete:volume": ("DELETE", f"/v2/volumes/{NIL}", None),
    "delete:snapshot": ("DELETE", "/v2/snapshots/0", None),
    "delete:kubernetes-cluster": ("DELETE", f"/v2/kubernetes/clusters/{NIL}", None),
    "delete:project": ("DELETE", f"/v2/projects/{NIL}", None),
    "create:droplet": ("POST", "/v2/droplets", {}),
}
DELETE_CAPS = tuple(c for c in PROBES if c.startswith("delete:"))


class ProbeAborted(ProviderError):
    pass


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _call(
    client: ApiClient, method: str, path: str, auth: httpx.Auth, body: Any = None, **params: Any
) -> tuple[int, Any]:
    resp = client.request(method, path, auth=auth, json=body, params=params or None)
    if resp.status_code == 401:
        raise ProviderAuthError(f"{NAME}: token rejected (HTTP 401)")
    if not resp.content:
        return resp.status_code, None
    try:
        return resp.status_code, resp.json()
    except ValueError:
        if resp.status_code < 300:
            raise ProviderError(
                f"{NAME}: malformed JSON from {resp.request.url.path} (HTTP {resp.status_code})",
                hint="DigitalOcean returned something that is not JSON; try again later",
            ) from None
        return resp.status_code, None


class DigitalOceanProvider(HttpProvider):
    name = NAME
    url_env = URL_ENV
    default_url = DEFAULT_URL
    display_name = "DigitalOcean"

    def recognisers(self) -> Sequence[Recogniser]:
        recs = [
            Recogniser(
                NAME, kind, priority=80, text_pattern=re.compile(_B + rf"(?P<secret>{p}[a-f0-9]{{64}})" + _E)
            )
            for p, kind in PREFIXES.items()
        ]
        recs.append(Recogniser(NAME, "token", key_names=ENV_NAMES, value_pattern=_VALUE, priority=70))
        recs.append(
            Recogniser(
                NAME,
                "token",
                value_pattern=_VALUE,
                category="cli_config",
                priority=75,
                files=tuple(
                    FileRule(p, loc)
                    for p in (
                        ".config/doctl/config.yaml",
                        "Library/Application Support/doctl/config.yaml",
                        "AppData/Roaming/doctl/config.yaml",
                    )
                    for loc in ("access-token", "auth-contexts.*")
                ),
            )
        )
        return recs

    def classify(self, candidate: Candidate) -> Credential:
        value = candidate.secret.reveal()
        kind = next((k for p, k in PREFIXES.items() if value.startswith(p)), "legacy_token")
        reasons = [
            "DigitalOcean does not report a token's scopes: a full-access token can destroy every Droplet, "
            "database, volume and snapshot of its team."
        ]
        if kind == "oauth_refresh_token":
            reasons.append("OAuth refresh token: mints new access tokens with the same scopes.")
        return Credential.from_candidate(
            candidate,
            kind=kind,
            status=Status.unverified,
            possible_capabilities=tuple(PROBES),
            reasons=tuple(reasons),
        )

    # -- identify ----------------------------------------------------------------------------------------
    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        if ctx.offline or credential.kind == "oauth_refresh_token":
            return credential
        auth = BearerAuth(credential.secret)
        meta = dict(credential.metadata)
        reasons: list[str] = []
        try:
            with self.client(ctx) as client:
                status, body = _call(client, "GET", "/v2/account", auth)
                principal = None
                if status == 200 and isinstance(body, dict):
                    acct = body.get("account") or {}
                    team = acct.get("team") or {}
                    principal = acct.get("email")
                    meta.update(
                        account_uuid=acct.get("uuid"), team=team.get("name"), team_uuid=team.get("uuid")
                    )
                    reasons.append(
                        f"Verified: {principal}" + (f", team {team.get('name')}." if team else ".")
                    )
                elif status in (403, 404):
                    reasons.append(
                        f"DigitalOcean accepted the token but refused to show the account (HTTP {status}: "
                        "it lacks account:read)."
                    )
                else:
                    raise ProviderError(f"{NAME}: HTTP {status} from /v2/account")
                if not ctx.probe_writes:
                    reasons.append(
                        "Scopes are not reported by DigitalOcean; whether it can delete is unknown "
                        "(run with --probe-writes to test with deliberately invalid requests)."
                    )
                    return credential.model_copy(
                        update={
                            "status": Status.verified,
                            "principal": principal,
                            "metadata": meta,
                            "root_equivalent": None,
                            "possible_capabilities": tuple(PROBES),
                            "reasons": tuple(reasons),
                        }
                    )
                return self._probe(client, credential, auth, meta, principal, reasons)
        except ProviderAuthError:
            return self.rejected(
                credential,
                "DigitalOcean rejected the token (HTTP 401): revoked, expired or never valid.",
                root_equivalent=False,
            )
        except ProbeAborted as exc:
            return credential.model_copy(
                update={
                    "status": Status.error,
                    "metadata": meta,
                    "root_equivalent": None,
                    "reasons": tuple(reasons) + (exc.message,),
                }
            )
        except ProviderError as exc:
            return self.could_not_verify(credential, exc.message)
        except SHAPE_ERRORS as exc:
            return self.could_not_verify(credential, f"unexpected response shape ({type(exc).__name__}).")

    def _probe(
        self,
        client: ApiClient,
        cred: Credential,
        auth: httpx.Auth,
        meta: dict[str, Any],
        principal: str | None,
        reasons: list[str],
    ) -> Credential:
        allowed, denied, unknown = [], [], []
        for cap, (method, path, body) in PROBES.items():
            status, _ = _call(client, method, path, auth, body)
            if status < 300:
                raise ProbeAborted(
                    f"Write probe aborted: {method} {path} unexpectedly succeeded (HTTP {status}); nothing further "
                    "was sent. Check the team's activity history.",
                    hint="report this: a deliberately invalid request should never succeed",
                )
            if status in (404, 422, 400):
                allowed.append(cap)
            elif status == 403:
                denied.append(cap)
            else:
                unknown.append(cap)
        meta["probed"] = True
        if unknown:
            root: bool | None = None
            reasons.append(f"Probe inconclusive for: {', '.join(unknown)}.")
        elif all(c in allowed for c in DELETE_CAPS):
            root = True
            reasons.append(
                "Probed: can delete Droplets, databases (with their backups), volumes, snapshots, "
                "Kubernetes clusters and projects: full access to the team."
            )
        else:
            root = False
            reasons.append(
                "Probed: "
                + (f"can {', '.join(allowed)}; " if allowed else "read-only; ")
                + f"cannot {', '.join(denied)}: not root-equivalent."
            )
        return cred.model_copy(
            update={
                "status": Status.verified,
                "principal": principal,
                "metadata": meta,
                "capabilities": tuple(allowed),
                "possible_capabilities": tuple(unknown),
                "root_equivalent": root,
                "reasons": tuple(reasons),
            }
        )

    # -- inventory --------------------------------------------------------------------------------------
    @staticmethod
    def _can(cred: Credential, cap: str) -> tuple[bool | None, str]:
        if not cred.metadata.get("probed"):
            return None, "token scopes unknown (not probed)"
        if cap in cred.capabilities:
            return True, f"probed: the token holds {cap}"
        if cap in cred.possible_capabilities:
            return None, f"probe for {cap} was inconclusive"
        return False, f"probed: the token lacks {cap}"

    def _list(
        self, client: ApiClient, cred: Credential, path: str, key: str, gaps: list[CoverageGap], **params: Any
    ) -> list[dict[str, Any]]:
        status, body = _call(client, "GET", path, BearerAuth(cred.secret), per_page=PAGE, **params)
        if status != 200 or not isinstance(body, dict):
            gaps.append(
                CoverageGap(
                    subject=cred.id,
                    provider=NAME,
                    reason=f"could not list {key} with {cred.label} (HTTP {status})",
                )
            )
            return []
        if ((body.get("links") or {}).get("pages") or {}).get("next"):
            gaps.append(
                CoverageGap(
                    subject=cred.id,
                    provider=NAME,
                    reason=f"more than {PAGE} {key}: only the first {PAGE} inspected",
                )
            )
        return [x for x in body.get(key) or [] if isinstance(x, dict)]

    # inventory() is HttpProvider's loop over the verified credentials; this is one credential's part.
    def _inventory_one(self, client: ApiClient, cred: Credential) -> Inventory:
        res: list[Resource] = []
        backups: list[Backup] = []
        facts: list[DestroyFact] = []
        gaps: list[CoverageGap] = []

        def fact(target: str, cap: str) -> None:
            v, why = self._can(cred, cap)
            facts.append(
                DestroyFact(credential=cred.id, target=target, verdict=v, reason=why, capability=cap)
            )

        for db in self._list(client, cred, "/v2/databases", "databases", gaps):
            rid = f"digitalocean:database:{db.get('id')}"
            res.append(
                Resource(
                    id=rid,
                    provider=NAME,
                    type="database",
                    name=str(db.get("name")),
                    holds_data=True,
                    metadata={"engine": db.get("engine"), "region": db.get("region")},
                )
            )
            fact(rid, "delete:database")
            backups.append(
                Backup(
                    id=f"digitalocean:database-backups:{db.get('id')}",
                    provider=NAME,
                    protects=rid,
                    kind="automated",
                    location=f"DigitalOcean-managed backups of cluster {db.get('name')}",
                    dies_with_resource=True,
                    reasons=("DigitalOcean: destroying a database cluster destroys its backups.",),
                )
            )
        droplets = self._list(client, cred, "/v2/droplets", "droplets", gaps)
        for d in droplets:
            rid = f"digitalocean:droplet:{d.get('id')}"
            res.append(
                Resource(id=rid, provider=NAME, type="droplet", name=str(d.get("name")), holds_data=True)
            )
            fact(rid, "delete:droplet")
            if d.get("backup_ids") or "backups" in (d.get("features") or []):
                backups.append(
                    Backup(
                        id=f"digitalocean:droplet-backups:{d.get('id')}",
                        provider=NAME,
                        protects=rid,
                        kind="automated",
                        location=f"Droplet backups of {d.get('name')} (same datacenter)",
                        dies_with_resource=True,
                        reasons=("DigitalOcean: destroying a Droplet destroys its backups.",),
                    )
                )
        for v in self._list(client, cred, "/v2/volumes", "volumes", gaps):
            rid = f"digitalocean:volume:{v.get('id')}"
            res.append(
                Resource(id=rid, provider=NAME, type="volume", name=str(v.get("name")), holds_data=True)
            )
            fact(rid, "delete:volume")
        known = {r.id for r in res}
        for s in self._list(client, cred, "/v2/snapshots", "snapshots", gaps):
            rtype = {"droplet": "droplet", "volume": "volume"}.get(str(s.get("resource_type")))
            protects = f"digitalocean:{rtype}:{s.get('resource_id')}" if rtype else ""
            if protects not in known:
                continue
            bid = f"digitalocean:snapshot:{s.get('id')}"
            backups.append(
                Backup(
                    id=bid,
                    provider=NAME,
                    protects=protects,
                    kind="snapshot",
                    created_at=_when(s.get("created_at")),
                    location=f"DigitalOcean snapshot {s.get('name')}",
                    dies_with_resource=False,
                    reasons=(
                        "Snapshots survive destroying their Droplet or volume, unless the "
                        "destroy_with_associated_resources/dangerous endpoint is used.",
                    ),
                )
            )
            v, why = self._can(cred, "delete:snapshot")
            if v is not True and rtype == "droplet" and "delete:droplet" in cred.capabilities:
                v, why = None, "the Droplet 'dangerous' destroy endpoint may delete its snapshots too"
            facts.append(
                DestroyFact(
                    credential=cred.id, target=bid, verdict=v, reason=why, capability="delete:snapshot"
                )
            )
        # a probed token that lacks a delete scope cannot delete that type anywhere in the team
        denials = tuple(
            CannotDestroyType(credential=cred.id, provider=NAME, resource_type=rtype, capability=cap, reason=why)
            for rtype, cap in (("database", "delete:database"), ("droplet", "delete:droplet"),
                               ("volume", "delete:volume"))
            for verdict, why in [self._can(cred, cap)]
            if verdict is False
        )
        return Inventory(resources=tuple(res), backups=tuple(backups), facts=tuple(facts), gaps=tuple(gaps),
                         denials=denials)
