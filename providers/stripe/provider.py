"""Stripe provider.

Offline: a key's type and mode are in its prefix. ``sk_live_`` is a full-access secret key for the
live account (root-equivalent by construction); ``sk_test_``/``rk_test_`` reach test-mode data only;
``rk_live_`` restricted keys have per-resource permissions that no API reports.
identify(): ``GET /v1/account`` (falling back to ``/v1/balance`` and ``/v1/charges`` for restricted
keys, where 403 still proves the key is valid). Restricted keys get read probes (GET lists, always
safe) and, only with ``probe_writes``, write probes that are deliberately invalid: DELETE or POST to
IDs that cannot exist (404/400 = allowed, 403 = not). A probe write that succeeds aborts the probe.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from auditor.errors import ProviderError
from auditor.http import ApiClient, BearerAuth, RequestAuth
from auditor.model import Candidate, Credential, Finding, Inventory, Severity, Status, Verdict
from auditor.provider import FileRule, ProviderContext, Recogniser
from auditor.provider_http import HttpProvider
from auditor.provider_kit import InventoryBuilder, call_json, cli_login, env_token, text_recognisers, unverified

NAME = "stripe"
DEFAULT_URL = "https://api.stripe.com"
URL_ENV = "BLASTWALL_STRIPE_URL"

KINDS = {
    ("sk", "live"): "secret_key_live",
    ("sk", "test"): "secret_key_test",
    ("rk", "live"): "restricted_key_live",
    ("rk", "test"): "restricted_key_test",
}
_KEY_VALUE = re.compile(r"[sr]k_(?:live|test)_[A-Za-z0-9]{20,247}")
ENV_NAMES = frozenset(
    {
        "STRIPE_SECRET_KEY",
        "STRIPE_API_KEY",
        "STRIPE_KEY",
        "STRIPE_RESTRICTED_KEY",
        "STRIPE_SECRET",
        "stripe_secret_key",
        "stripe_api_key",
    }
)

# What a full secret key can do that destroys or moves value.
FULL_CAPS = (
    "delete:customer",
    "delete:product",
    "delete:webhook-endpoint",
    "cancel:subscription",
    "create:refund",
    "create:payout",
    "delete:connected-account",
)

# Read probes (GET, always safe): resource -> path
READ_PROBES = {
    "customers": "/v1/customers",
    "charges": "/v1/charges",
    "products": "/v1/products",
    "subscriptions": "/v1/subscriptions",
    "webhook_endpoints": "/v1/webhook_endpoints",
    "payouts": "/v1/payouts",
    "refunds": "/v1/refunds",
}
PROBE_ID = "blastwallprobe0nonexistent0000"
# Write probes (only with probe_writes): capability -> (method, path to an ID that cannot exist)
WRITE_PROBES: dict[str, tuple[str, str]] = {
    "delete:customer": ("DELETE", f"/v1/customers/cus_{PROBE_ID}"),
    "delete:product": ("DELETE", f"/v1/products/prod_{PROBE_ID}"),
    "delete:webhook-endpoint": ("DELETE", f"/v1/webhook_endpoints/we_{PROBE_ID}"),
    "cancel:subscription": ("DELETE", f"/v1/subscriptions/sub_{PROBE_ID}"),
    "create:refund": ("POST", f"/v1/refunds/re_{PROBE_ID}"),
    "create:payout": ("POST", f"/v1/payouts/po_{PROBE_ID}"),
    "delete:connected-account": ("DELETE", f"/v1/accounts/acct_{PROBE_ID}"),
}


def kind_of(value: str) -> str:
    return KINDS.get((value[:2], value[3:7]), "key")


def _call(client: ApiClient, method: str, path: str, auth: RequestAuth, **params: Any) -> tuple[int, Any]:
    hint = "Stripe returned something that is not JSON; try again later"
    r = call_json(client, method, path, auth=auth, params=params, rejected="key rejected", malformed_hint=hint)
    return r.status, r.body


@dataclass(frozen=True)
class StripeFacts:
    """What the read-only calls (and, with --probe-writes, the invalid write probes) showed about one key."""

    account: dict[str, Any] | None  # GET /v1/account, when it answered
    status: int  # the HTTP status that proved the key live (200, or 403 for a restricted key)
    readable: list[str] | None = None  # restricted keys: the resources it may read
    probes: dict[str, int] | None = None  # capability -> HTTP status of its write probe; None: not probed
    aborted: str | None = None  # a probe that unexpectedly succeeded stopped probing


def _fetch(client: ApiClient, cred: Credential, ctx: ProviderContext) -> StripeFacts:
    auth = BearerAuth(cred.secret)
    status, body = _call(client, "GET", "/v1/account", auth)
    account = body if status == 200 and isinstance(body, dict) else None
    if account is None:
        # Restricted keys may lack account read; a 403 (not 401) still proves the key is live.
        for path in ("/v1/balance", "/v1/charges"):
            status, body = _call(client, "GET", path, auth, **({"limit": 1} if "charges" in path else {}))
            if status in (200, 403):
                break
    if status not in (200, 403):
        raise ProviderError(f"{NAME}: HTTP {status} while verifying the key")
    if not cred.kind.startswith("restricted_key"):
        return StripeFacts(account, status)
    readable = [res for res, path in READ_PROBES.items() if _call(client, "GET", path, auth, limit=1)[0] == 200]
    if cred.kind == "restricted_key_test" or not ctx.probe_writes:
        return StripeFacts(account, status, readable)
    probes: dict[str, int] = {}
    for cap, (method, path) in WRITE_PROBES.items():
        probes[cap], _ = _call(client, method, path, auth)
        if probes[cap] < 300:  # a deliberately invalid write succeeded: stop at once
            aborted = (
                f"Write probe aborted: {method} {path} unexpectedly succeeded (HTTP {probes[cap]}); nothing "
                "further was sent. Check the Stripe account's event log."
            )
            return StripeFacts(account, status, readable, probes, aborted)
    return StripeFacts(account, status, readable, probes)


def judge_key(cred: Credential, seen: StripeFacts) -> Verdict:
    """The verdict on a Stripe key from what the calls showed (pure: no HTTP)."""
    reasons = tuple(r for r in cred.reasons if r != "Not yet verified with Stripe.")
    meta: dict[str, Any] = dict(cred.metadata)
    principal = None
    if seen.account is not None:
        meta["account_id"] = seen.account.get("id")
        principal = seen.account.get("email") or seen.account.get("id")
    if seen.readable is not None:
        meta["readable"] = seen.readable
    if seen.aborted:
        return Verdict(status=Status.error, root_equivalent=None, metadata=meta, reasons=(*reasons, seen.aborted))
    judged = partial(Verdict, status=Status.verified, metadata=meta, principal=principal)
    if seen.readable is None:
        if seen.status != 200:
            why = f"Stripe accepted the key but refused to describe the account (HTTP {seen.status})."
        else:
            why = f"Verified with Stripe: account {meta.get('account_id')}."
        return judged(reasons=(*reasons, why))
    out = list(reasons) + [f"Reads: {', '.join(seen.readable) or 'none of the probed resources'}."]
    if cred.kind == "restricted_key_test":
        return judged(reasons=tuple(out))
    if seen.probes is None:
        out.append(
            "Write permissions unknown: Stripe reports them nowhere; run with --probe-writes to test "
            "them with deliberately invalid requests."
        )
        return judged(root_equivalent=None, possible_capabilities=FULL_CAPS, reasons=tuple(out))
    allowed = [c for c, st in seen.probes.items() if st in (400, 404)]
    denied = [c for c, st in seen.probes.items() if st == 403]
    unknown = [c for c, st in seen.probes.items() if st not in (400, 404, 403)]
    meta["probed"] = True
    root: bool | None
    if unknown:
        root = None
        out.append(f"Probe inconclusive for: {', '.join(unknown)}.")
    elif not denied:
        root = True
        out.append(
            "Probed: holds every destructive write permission (delete customers, products, webhook "
            "endpoints, cancel subscriptions, refunds, payouts): as powerful as a secret key."
        )
    else:
        root = False
        out.append(f"Probed: lacks {', '.join(denied)}; not root-equivalent.")
    if allowed:
        out.append(f"Can: {', '.join(allowed)}.")
    return judged(
        root_equivalent=root, capabilities=tuple(allowed), possible_capabilities=tuple(unknown), reasons=tuple(out)
    )


def _offline_verdict(kind: str) -> tuple[bool | None, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(root_equivalent, capabilities, possible_capabilities, reasons) known from the prefix alone."""
    if kind == "secret_key_live":
        return (
            True,
            FULL_CAPS,
            (),
            (
                "Live secret key (sk_live_): full access to the live Stripe account by construction. It can refund "
                "charges, pay out the balance, cancel subscriptions and permanently delete customers, products and "
                "webhook endpoints; Stripe keeps no backup you can restore.",
            ),
        )
    if kind == "secret_key_test":
        return (
            False,
            (),
            (),
            (
                "Test secret key (sk_test_): full access to test mode only; it cannot read or change live "
                "(production) data.",
            ),
        )
    if kind == "restricted_key_test":
        return False, (), (), ("Restricted test key (rk_test_): test mode only; no access to live data.",)
    if kind == "restricted_key_live":
        return (
            None,
            (),
            FULL_CAPS,
            (
                "Live restricted key (rk_live_): its per-resource permissions are not reported by any Stripe API; "
                "what it can delete is unknown until probed (--probe-writes).",
            ),
        )
    return None, (), FULL_CAPS, ("Unrecognised Stripe key format.",)


class StripeProvider(HttpProvider, name=NAME, display_name="Stripe", default_url=DEFAULT_URL):
    def recognisers(self) -> Sequence[Recogniser]:
        recs = text_recognisers(
            NAME, [(kind, rf"{t}_{mode}_[A-Za-z0-9]{{20,247}}") for (t, mode), kind in KINDS.items()]
        )
        config = ".config/stripe/config.toml"
        files = [
            *(
                FileRule(config, f"*.{m}_mode_api_key", hints=("account_id", f"{m}_mode_key_expires_at"))
                for m in ("test", "live")
            ),
            FileRule(".config/stripe/credentials.json", "*api_key"),
        ]
        recs.append(env_token(NAME, "key", ENV_NAMES, _KEY_VALUE))
        recs.append(cli_login(NAME, "cli_key", *files, priority=75, value_pattern=_KEY_VALUE))
        return recs

    def classify(self, candidate: Candidate) -> Credential:
        kind = kind_of(candidate.secret.reveal())
        root, caps, possible, reasons = _offline_verdict(kind)
        meta = {**candidate.hints, "mode": "live" if "live" in kind else "test"}
        reasons += ("Not yet verified with Stripe.",)
        return unverified(
            candidate,
            *reasons,
            kind=kind,
            root_equivalent=root,
            capabilities=caps,
            possible_capabilities=possible,
            metadata=meta,
        )

    # -- identify ----------------------------------------------------------------------------------------
    rejected_root = False
    errors_as_reasons = True
    fetch = staticmethod(_fetch)
    judge = staticmethod(judge_key)

    # -- inventory --------------------------------------------------------------------------------------
    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        # not HttpProvider's per-credential loop: built from what identify() learnt, without API calls
        inv = InventoryBuilder(NAME)
        for cred in self.verified_credentials(credentials, inv.gaps.append):
            if (
                cred.metadata.get("probed")
                and cred.root_equivalent is False
                and not cred.possible_capabilities
                and not any(c in FULL_CAPS for c in cred.capabilities)
            ):
                # probed: no destructive permission at all, so no account it reaches (Connect included) is at
                # risk, whether or not it may read its own account
                inv.denial(cred.id, "payments-account", "probed: holds no destructive write permission")
            acct = cred.metadata.get("account_id")
            live = cred.metadata.get("mode") == "live"
            if not acct:
                inv.gap(
                    cred.id,
                    f"{cred.label}: the account it belongs to could not be read "
                    "(HTTP 403); what it can destroy there is unknown",
                )
                continue
            rid = f"stripe:account:{acct}:{'live' if live else 'test'}"
            mode = "live" if live else "test"
            inv.add_resource(rid, "payments-account", f"{acct} ({mode} mode)", holds_data=live, metadata={"mode": mode})
            if not live:
                inv.fact(cred.id, rid, False, "test-mode key: no access to live data")
                # nor to the same account's live mode, listed when a live key is found too
                inv.fact(cred.id, f"stripe:account:{acct}:live", False, "test-mode key: no access to live data")
                continue
            destructive = [c for c in cred.capabilities if c in FULL_CAPS]
            if cred.root_equivalent is True or destructive:
                cap = (destructive or ["delete:customer"])[0]
                inv.fact(cred.id, rid, True, "can " + ", ".join(destructive or FULL_CAPS), cap)
            elif cred.root_equivalent is False and not cred.possible_capabilities:
                inv.fact(cred.id, rid, False, "probed: holds no destructive write permission")
            else:
                inv.fact(cred.id, rid, None, "restricted key: write permissions not probed")
                inv.gap(
                    cred.id,
                    f"{cred.label}: write permissions of a restricted key are not "
                    "reported by Stripe; run with --probe-writes",
                )
            if cred.kind == "secret_key_live":
                inv.finding(
                    Finding.make(
                        "stripe.live-secret-key",
                        Severity.critical,
                        cred.id,
                        f"{cred.label} is a live secret key: full access to account {acct}, including refunds, "
                        "payouts and permanent deletion of customers and products.",
                        "Replace it with a restricted key (rk_live_) that grants only the resources the code uses, "
                        "and roll the secret key in the Dashboard.",
                        provider=NAME,
                    )
                )
        return inv.build()
