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

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from auditor.errors import ProviderError
from auditor.http import ApiClient, BearerAuth, RequestAuth
from auditor.model import Candidate, Credential, Inventory, Status, Verdict
from auditor.provider import FileRule, ProviderContext, Recogniser
from auditor.provider_http import HttpProvider
from auditor.provider_kit import InventoryBuilder, call_json, cli_login, env_token, text_recognisers, unverified

NAME = "digitalocean"
DEFAULT_URL = "https://api.digitalocean.com"
URL_ENV = "BLASTWALL_DIGITALOCEAN_URL"
PAGE = 100

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


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _call(
    client: ApiClient, method: str, path: str, auth: RequestAuth, body: Any = None, **params: Any
) -> tuple[int, Any]:
    hint = "DigitalOcean returned something that is not JSON; try again later"
    r = call_json(
        client, method, path, auth=auth, json=body, params=params, rejected="token rejected", malformed_hint=hint
    )
    return r.status, r.body


@dataclass(frozen=True)
class DigitalOceanFacts:
    """What the read-only calls (and, with --probe-writes, the invalid write probes) showed about one token."""

    account: dict[str, Any] | None  # GET /v2/account; None: refused (HTTP 403/404)
    account_status: int
    probes: dict[str, int] | None = None  # capability -> HTTP status of its probe; None: not probed
    aborted: str | None = None  # a probe that unexpectedly succeeded stopped probing


def _fetch(client: ApiClient, cred: Credential, ctx: ProviderContext) -> DigitalOceanFacts:
    auth = BearerAuth(cred.secret)
    status, body = _call(client, "GET", "/v2/account", auth)
    if not (status == 200 and isinstance(body, dict)) and status not in (403, 404):
        raise ProviderError(f"{NAME}: HTTP {status} from /v2/account")
    account = body if status == 200 else None
    if not ctx.probe_writes:
        return DigitalOceanFacts(account, status)
    probes: dict[str, int] = {}
    for cap, (method, path, payload) in PROBES.items():
        probes[cap], _ = _call(client, method, path, auth, payload)
        if probes[cap] < 300:  # a deliberately invalid write succeeded: stop at once
            aborted = (
                f"Write probe aborted: {method} {path} unexpectedly succeeded (HTTP {probes[cap]}); nothing "
                "further was sent. Check the team's activity history."
            )
            return DigitalOceanFacts(account, status, probes, aborted)
    return DigitalOceanFacts(account, status, probes)


def judge_token(cred: Credential, seen: DigitalOceanFacts) -> Verdict:
    """The verdict on a DigitalOcean token from what the calls showed (pure: no HTTP)."""
    meta: dict[str, Any] = dict(cred.metadata)
    reasons: list[str] = []
    principal = None
    if seen.account is not None:
        acct = seen.account.get("account") or {}
        team = acct.get("team") or {}
        principal = acct.get("email")
        meta.update(account_uuid=acct.get("uuid"), team=team.get("name"), team_uuid=team.get("uuid"))
        reasons.append(f"Verified: {principal}" + (f", team {team.get('name')}." if team else "."))
    else:
        reasons.append(
            f"DigitalOcean accepted the token but refused to show the account (HTTP {seen.account_status}: "
            "it lacks account:read)."
        )
    if seen.aborted:
        return Verdict(status=Status.error, metadata=meta, root_equivalent=None, reasons=(*reasons, seen.aborted))
    judged = partial(Verdict, status=Status.verified, principal=principal, metadata=meta)
    if seen.probes is None:
        reasons.append(
            "Scopes are not reported by DigitalOcean; whether it can delete is unknown "
            "(run with --probe-writes to test with deliberately invalid requests)."
        )
        return judged(root_equivalent=None, possible_capabilities=tuple(PROBES), reasons=tuple(reasons))
    allowed = [c for c, st in seen.probes.items() if st in (404, 422, 400)]
    denied = [c for c, st in seen.probes.items() if st == 403]
    unknown = [c for c, st in seen.probes.items() if st not in (404, 422, 400, 403)]
    meta["probed"] = True
    root: bool | None
    if unknown:
        root = None
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
    return judged(
        capabilities=tuple(allowed), possible_capabilities=tuple(unknown), root_equivalent=root, reasons=tuple(reasons)
    )


class DigitalOceanProvider(HttpProvider, name=NAME, display_name="DigitalOcean", default_url=DEFAULT_URL):
    def recognisers(self) -> Sequence[Recogniser]:
        recs = text_recognisers(NAME, [(kind, rf"{p}[a-f0-9]{{64}}") for p, kind in PREFIXES.items()])
        doctl = (
            ".config/doctl/config.yaml",
            "Library/Application Support/doctl/config.yaml",
            "AppData/Roaming/doctl/config.yaml",
        )
        files = [FileRule(p, loc) for p in doctl for loc in ("access-token", "auth-contexts.*")]
        recs.append(env_token(NAME, "token", ENV_NAMES, _VALUE))
        recs.append(cli_login(NAME, "token", *files, priority=75, value_pattern=_VALUE))
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
        return unverified(candidate, *reasons, kind=kind, possible_capabilities=tuple(PROBES))

    # -- identify ----------------------------------------------------------------------------------------
    rejected_root = False
    errors_as_reasons = True
    fetch = staticmethod(_fetch)
    judge = staticmethod(judge_token)
    unidentifiable_kinds = frozenset({"oauth_refresh_token"})

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
        self, client: ApiClient, cred: Credential, path: str, key: str, inv: InventoryBuilder, **params: Any
    ) -> list[dict[str, Any]]:
        status, body = _call(client, "GET", path, BearerAuth(cred.secret), per_page=PAGE, **params)
        if status != 200 or not isinstance(body, dict):
            inv.gap(cred.id, f"could not list {key} with {cred.label} (HTTP {status})")
            return []
        if ((body.get("links") or {}).get("pages") or {}).get("next"):
            inv.gap(cred.id, f"more than {PAGE} {key}: only the first {PAGE} inspected")
        return [x for x in body.get(key) or [] if isinstance(x, dict)]

    # inventory() is HttpProvider's loop over the verified credentials; this is one credential's part.
    def _inventory_one(self, client: ApiClient, cred: Credential) -> Inventory:
        inv = InventoryBuilder(NAME)

        def fact(target: str, cap: str) -> None:
            v, why = self._can(cred, cap)
            inv.fact(cred.id, target, v, why, cap)

        for db in self._list(client, cred, "/v2/databases", "databases", inv):
            rid = f"digitalocean:database:{db.get('id')}"
            inv.add_resource(
                rid,
                "database",
                str(db.get("name")),
                holds_data=True,
                metadata={"engine": db.get("engine"), "region": db.get("region")},
            )
            fact(rid, "delete:database")
            inv.add_backup(
                f"digitalocean:database-backups:{db.get('id')}",
                rid,
                "automated",
                f"DigitalOcean-managed backups of cluster {db.get('name')}",
                dies_with_resource=True,
                reasons=("DigitalOcean: destroying a database cluster destroys its backups.",),
            )
        droplets = self._list(client, cred, "/v2/droplets", "droplets", inv)
        for d in droplets:
            rid = f"digitalocean:droplet:{d.get('id')}"
            inv.add_resource(rid, "droplet", str(d.get("name")), holds_data=True)
            fact(rid, "delete:droplet")
            if d.get("backup_ids") or "backups" in (d.get("features") or []):
                inv.add_backup(
                    f"digitalocean:droplet-backups:{d.get('id')}",
                    rid,
                    "automated",
                    f"Droplet backups of {d.get('name')} (same datacenter)",
                    dies_with_resource=True,
                    reasons=("DigitalOcean: destroying a Droplet destroys its backups.",),
                )
        for v in self._list(client, cred, "/v2/volumes", "volumes", inv):
            rid = f"digitalocean:volume:{v.get('id')}"
            inv.add_resource(rid, "volume", str(v.get("name")), holds_data=True)
            fact(rid, "delete:volume")
        known = set(inv.resources)
        for s in self._list(client, cred, "/v2/snapshots", "snapshots", inv):
            rtype = {"droplet": "droplet", "volume": "volume"}.get(str(s.get("resource_type")))
            protects = f"digitalocean:{rtype}:{s.get('resource_id')}" if rtype else ""
            if protects not in known:
                continue
            bid = f"digitalocean:snapshot:{s.get('id')}"
            inv.add_backup(
                bid,
                protects,
                "snapshot",
                f"DigitalOcean snapshot {s.get('name')}",
                created_at=_when(s.get("created_at")),
                dies_with_resource=False,
                reasons=(
                    "Snapshots survive destroying their Droplet or volume, unless the "
                    "destroy_with_associated_resources/dangerous endpoint is used.",
                ),
            )
            verdict, why = self._can(cred, "delete:snapshot")
            if verdict is not True and rtype == "droplet" and "delete:droplet" in cred.capabilities:
                verdict, why = None, "the Droplet 'dangerous' destroy endpoint may delete its snapshots too"
            inv.fact(cred.id, bid, verdict, why, "delete:snapshot")
        # a probed token that lacks a delete scope cannot delete that type anywhere in the team
        for rtype, cap in (("database", "delete:database"), ("droplet", "delete:droplet"), ("volume", "delete:volume")):
            verdict, why = self._can(cred, cap)
            if verdict is False:
                inv.denial(cred.id, rtype, why, cap)
        return inv.build()
