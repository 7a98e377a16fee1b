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

import logging
import re
from collections.abc import Sequence
from typing import Any

import httpx

from auditor.errors import ProviderAuthError, ProviderError
from auditor.http import ApiClient, BearerAuth
from auditor.model import (
    CannotDestroyType,
    Candidate,
    CoverageGap,
    Credential,
    DestroyFact,
    Finding,
    Inventory,
    Resource,
    Severity,
    Status,
)
from auditor.provider import FileRule, ProviderContext, Recogniser
from auditor.provider_http import SHAPE_ERRORS, HttpProvider

log = logging.getLogger(__name__)

NAME = "stripe"
DEFAULT_URL = "https://api.stripe.com"
URL_ENV = "BLASTWALL_STRIPE_URL"

KINDS = {
    ("sk", "live"): "secret_key_live",
    ("sk", "test"): "secret_key_test",
    ("rk", "live"): "restricted_key_live",
    ("rk", "test"): "restricted_key_test",
}
_B = r"(?<![A-Za-z0-9_])"
_E = r"(?![A-Za-z0-9_])"
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


class ProbeAborted(ProviderError):
    """A deliberately invalid write succeeded: stop probing at once."""


def kind_of(value: str) -> str:
    return KINDS.get((value[:2], value[3:7]), "key")


def _call(client: ApiClient, method: str, path: str, auth: httpx.Auth, **params: Any) -> tuple[int, Any]:
    resp = client.request(method, path, auth=auth, params=params or None)
    if resp.status_code == 401:
        raise ProviderAuthError(f"{NAME}: key rejected (HTTP 401)")
    try:
        body = resp.json()
    except ValueError:
        if resp.status_code < 300:
            raise ProviderError(
                f"{NAME}: malformed JSON from {resp.request.url.path} (HTTP {resp.status_code})",
                hint="Stripe returned something that is not JSON; try again later",
            ) from None
        body = None
    return resp.status_code, body


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


class StripeProvider(HttpProvider):
    name = NAME
    url_env = URL_ENV
    default_url = DEFAULT_URL
    display_name = "Stripe"

    def recognisers(self) -> Sequence[Recogniser]:
        recs = [
            Recogniser(
                NAME,
                kind,
                text_pattern=re.compile(_B + rf"(?P<secret>{t}_{mode}_[A-Za-z0-9]{{20,247}})" + _E),
                priority=80,
            )
            for (t, mode), kind in KINDS.items()
        ]
        recs.append(Recogniser(NAME, "key", key_names=ENV_NAMES, value_pattern=_KEY_VALUE, priority=70))
        recs.append(
            Recogniser(
                NAME,
                "cli_key",
                value_pattern=_KEY_VALUE,
                category="cli_config",
                priority=75,
                files=(
                    FileRule(
                        ".config/stripe/config.toml",
                        "*.test_mode_api_key",
                        hints=("account_id", "test_mode_key_expires_at"),
                    ),
                    FileRule(
                        ".config/stripe/config.toml",
                        "*.live_mode_api_key",
                        hints=("account_id", "live_mode_key_expires_at"),
                    ),
                    FileRule(".config/stripe/credentials.json", "*api_key"),
                ),
            )
        )
        return recs

    def classify(self, candidate: Candidate) -> Credential:
        kind = kind_of(candidate.secret.reveal())
        root, caps, possible, reasons = _offline_verdict(kind)
        return Credential.from_candidate(
            candidate,
            kind=kind,
            status=Status.unverified,
            root_equivalent=root,
            capabilities=caps,
            possible_capabilities=possible,
            metadata={**candidate.hints, "mode": "live" if "live" in kind else "test"},
            reasons=reasons + ("Not yet verified with Stripe.",),
        )

    # -- identify ----------------------------------------------------------------------------------------
    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        if ctx.offline:
            return credential
        base_reasons = tuple(r for r in credential.reasons if r != "Not yet verified with Stripe.")
        auth = BearerAuth(credential.secret)
        meta = dict(credential.metadata)
        try:
            with self.client(ctx) as client:
                status, body = _call(client, "GET", "/v1/account", auth)
                if status == 200 and isinstance(body, dict):
                    meta["account_id"] = body.get("id")
                    principal = body.get("email") or body.get("id")
                else:
                    principal = None
                    # Restricted keys may lack account read; a 403 (not 401) still proves the key is live.
                    for path in ("/v1/balance", "/v1/charges"):
                        status, body = _call(
                            client, "GET", path, auth, **({"limit": 1} if "charges" in path else {})
                        )
                        if status in (200, 403):
                            break
                if status not in (200, 403):
                    raise ProviderError(f"{NAME}: HTTP {status} while verifying the key")
                if not credential.kind.startswith("restricted_key"):
                    if status != 200:
                        return credential.model_copy(
                            update={
                                "status": Status.verified,
                                "metadata": meta,
                                "principal": principal,
                                "reasons": base_reasons
                                + (
                                    f"Stripe accepted the key but refused to describe the account (HTTP {status}).",
                                ),
                            }
                        )
                    return credential.model_copy(
                        update={
                            "status": Status.verified,
                            "metadata": meta,
                            "principal": principal,
                            "reasons": base_reasons
                            + (f"Verified with Stripe: account {meta.get('account_id')}.",),
                        }
                    )
                return self._probe_restricted(client, credential, auth, ctx, meta, principal, base_reasons)
        except ProviderAuthError:
            return self.rejected(
                credential,
                "Stripe rejected the key (HTTP 401): it is revoked, expired or was never valid.",
                root_equivalent=False,
            )
        except ProbeAborted as exc:
            return credential.model_copy(
                update={
                    "status": Status.error,
                    "root_equivalent": None,
                    "metadata": meta,
                    "reasons": base_reasons + (exc.message,),
                }
            )
        except ProviderError as exc:
            return self.could_not_verify(credential, exc.message)
        except SHAPE_ERRORS as exc:
            return self.could_not_verify(credential, f"unexpected response shape ({type(exc).__name__}).")

    def _probe_restricted(
        self,
        client: ApiClient,
        cred: Credential,
        auth: httpx.Auth,
        ctx: ProviderContext,
        meta: dict[str, Any],
        principal: str | None,
        reasons: tuple[str, ...],
    ) -> Credential:
        readable, unreadable = [], []
        for res, path in READ_PROBES.items():
            status, _ = _call(client, "GET", path, auth, limit=1)
            (readable if status == 200 else unreadable).append(res)
        meta["readable"] = readable
        out = list(reasons) + [f"Reads: {', '.join(readable) or 'none of the probed resources'}."]
        if cred.kind == "restricted_key_test":
            return cred.model_copy(
                update={
                    "status": Status.verified,
                    "metadata": meta,
                    "principal": principal,
                    "reasons": tuple(out),
                }
            )
        if not ctx.probe_writes:
            out.append(
                "Write permissions unknown: Stripe reports them nowhere; run with --probe-writes to test "
                "them with deliberately invalid requests."
            )
            return cred.model_copy(
                update={
                    "status": Status.verified,
                    "metadata": meta,
                    "principal": principal,
                    "root_equivalent": None,
                    "possible_capabilities": FULL_CAPS,
                    "reasons": tuple(out),
                }
            )
        allowed, denied, unknown = [], [], []
        for cap, (method, path) in WRITE_PROBES.items():
            status, _ = _call(client, method, path, auth)
            if status < 300:
                raise ProbeAborted(
                    f"Write probe aborted: {method} {path} unexpectedly succeeded (HTTP {status}); nothing further "
                    "was sent. Check the Stripe account's event log.",
                    hint="report this: a deliberately invalid request should never succeed",
                )
            if status in (400, 404):
                allowed.append(cap)
            elif status == 403:
                denied.append(cap)
            else:
                unknown.append(cap)
        meta["probed"] = True
        if unknown:
            root: bool | None = None
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
        return cred.model_copy(
            update={
                "status": Status.verified,
                "metadata": meta,
                "principal": principal,
                "root_equivalent": root,
                "capabilities": tuple(allowed),
                "possible_capabilities": tuple(unknown),
                "reasons": tuple(out),
            }
        )

    # -- inventory --------------------------------------------------------------------------------------
    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        # not HttpProvider's per-credential loop: built from what identify() learnt, without API calls
        resources: dict[str, Resource] = {}
        facts: list[DestroyFact] = []
        gaps: list[CoverageGap] = []
        findings: list[Finding] = []
        denials: list[CannotDestroyType] = []
        for cred in self.verified_credentials(credentials, gaps.append):
            if cred.metadata.get("probed") and cred.root_equivalent is False and not cred.possible_capabilities \
                    and not any(c in FULL_CAPS for c in cred.capabilities):
                # probed: no destructive permission at all, so no account it reaches (Connect included) is at
                # risk, whether or not it may read its own account
                denials.append(
                    CannotDestroyType(
                        credential=cred.id,
                        provider=NAME,
                        resource_type="payments-account",
                        reason="probed: holds no destructive write permission",
                    )
                )
            acct = cred.metadata.get("account_id")
            live = cred.metadata.get("mode") == "live"
            if not acct:
                gaps.append(
                    CoverageGap(
                        subject=cred.id,
                        provider=NAME,
                        reason=f"{cred.label}: the account it belongs to could not be read "
                        "(HTTP 403); what it can destroy there is unknown",
                    )
                )
                continue
            rid = f"stripe:account:{acct}:{'live' if live else 'test'}"
            resources[rid] = Resource(
                id=rid,
                provider=NAME,
                type="payments-account",
                name=f"{acct} ({'live' if live else 'test'} mode)",
                holds_data=live,
                metadata={"mode": "live" if live else "test"},
            )
            if not live:
                facts.append(
                    DestroyFact(
                        credential=cred.id,
                        target=rid,
                        verdict=False,
                        reason="test-mode key: no access to live data",
                    )
                )
                # nor to the same account's live mode, listed when a live key is found too
                facts.append(
                    DestroyFact(
                        credential=cred.id,
                        target=f"stripe:account:{acct}:live",
                        verdict=False,
                        reason="test-mode key: no access to live data",
                    )
                )
                continue
            destructive = [c for c in cred.capabilities if c in FULL_CAPS]
            if cred.root_equivalent is True or destructive:
                facts.append(
                    DestroyFact(
                        credential=cred.id,
                        target=rid,
                        verdict=True,
                        capability=(destructive or ["delete:customer"])[0],
                        reason="can " + ", ".join(destructive or FULL_CAPS),
                    )
                )
            elif cred.root_equivalent is False and not cred.possible_capabilities:
                facts.append(
                    DestroyFact(
                        credential=cred.id,
                        target=rid,
                        verdict=False,
                        reason="probed: holds no destructive write permission",
                    )
                )

            else:
                facts.append(
                    DestroyFact(
                        credential=cred.id,
                        target=rid,
                        verdict=None,
                        reason="restricted key: write permissions not probed",
                    )
                )
                gaps.append(
                    CoverageGap(
                        subject=cred.id,
                        provider=NAME,
                        reason=f"{cred.label}: write permissions of a restricted key are not "
                        "reported by Stripe; run with --probe-writes",
                    )
                )
            if cred.kind == "secret_key_live":
                findings.append(
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
        return Inventory(
            resources=tuple(resources.values()),
            facts=tuple(facts),
            gaps=tuple(gaps),
            findings=tuple(findings),
            denials=tuple(denials),
        )
