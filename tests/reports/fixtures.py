"""A realistic AuditResult built by hand from model objects: a developer laptop with a Railway
account token in an MCP config, an AWS admin key, a CI key in the repository, a GitHub token and a
Railway project token in the environment. Blast radius computed by the real engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from auditor.engine import analyse
from auditor.model import (
    AuditResult,
    Backup,
    CoverageGap,
    Credential,
    DestroyFact,
    Finding,
    Resource,
    Severity,
    Source,
    SourceCategory,
    Status,
)
from auditor.secrets import Secret

NOW = datetime(2026, 12, 1, 18, 30, tzinfo=UTC)
HOME = "/home/dev"
APP = "/home/dev/app"


def _default_mint(template: str) -> str:
    import secrets

    return template.format(r=secrets.token_hex(20))


def realistic_result(
    mint: Callable[[str], str] = _default_mint, *, extra_findings: tuple[Finding, ...] = (), changes: dict | None = None
) -> AuditResult:
    """`mint` makes secret values (pass `canaries.mint` to plant canaries)."""

    def cred(provider: str, kind: str, value: str, **kw: object) -> Credential:
        s = Secret(value)
        return Credential(
            id="cred-" + s.fingerprint.split(":")[1],
            provider=provider,
            kind=kind,
            fingerprint=s.fingerprint,
            secret=s,
            **kw,
        )  # type: ignore[arg-type]

    railway = cred(
        "railway",
        "account_token",
        mint("{r}"),
        status=Status.verified,
        principal="dev@acme.io (team Acme)",
        sources=(
            Source(
                path=f"{HOME}/.claude.json",
                locator="mcpServers.railway.env.RAILWAY_API_TOKEN",
                line=14,
                category=SourceCategory.agent_config,
            ),
            Source(path=f"{APP}/.env", locator="RAILWAY_API_TOKEN", line=3, category=SourceCategory.dotenv),
        ),
        capabilities=("delete:project", "delete:service", "delete:volume", "delete:volume-backup"),
        root_equivalent=True,
        reasons=(
            "Account token: acts on every project of team Acme, not just one.",
            "Can delete the volume postgres-data together with the backups stored inside it.",
        ),
        metadata={"team": "Acme", "projects": 3},
    )
    aws_admin = cred(
        "aws",
        "access_key",
        "AKIA" + mint("{r}")[:16].upper(),
        status=Status.verified,
        principal="arn:aws:iam::123456789012:user/deploy",
        sources=(
            Source(
                path=f"{HOME}/.aws/credentials",
                locator="default.aws_access_key_id",
                line=2,
                category=SourceCategory.cli_config,
            ),
        ),
        capabilities=("rds:DeleteDBInstance", "s3:DeleteBucket", "s3:DeleteObject", "iam:*"),
        root_equivalent=True,
        reasons=(
            "AdministratorAccess is attached to user deploy.",
            "Can delete the RDS instance orders-db and its automated snapshots.",
        ),
        metadata={"account_id": "123456789012", "key_age_days": 412},
        companions={"aws_secret_access_key": Secret(mint("{r}"))},
    )
    aws_ci = cred(
        "aws",
        "access_key",
        "AKIA" + mint("{r}")[:16].upper(),
        status=Status.verified,
        principal="arn:aws:iam::123456789012:user/ci-backup",
        sources=(
            Source(
                path=f"{APP}/config/ci.env", locator="AWS_ACCESS_KEY_ID", line=7, category=SourceCategory.repository
            ),
        ),
        capabilities=("s3:PutObject",),
        possible_capabilities=("s3:DeleteObject",),
        root_equivalent=False,
        reasons=("Scoped to s3://acme-backups; whether it can delete objects could not be simulated.",),
    )
    github = cred(
        "github",
        "personal_access_token",
        "ghp_" + mint("{r}"),
        status=Status.verified,
        principal="dev-acme",
        sources=(
            Source(
                path=f"{HOME}/.config/gh/hosts.yml",
                locator="github.com.oauth_token",
                line=3,
                category=SourceCategory.cli_config,
            ),
        ),
        capabilities=("repo",),
        root_equivalent=False,
        reasons=("Can push to repositories but reaches no dataset Blastwall inventoried.",),
    )
    railway_project = cred(
        "railway",
        "project_token",
        mint("{r}"),
        status=Status.error,
        sources=(Source(path="env", locator="RAILWAY_TOKEN", category=SourceCategory.environment),),
        root_equivalent=None,
        reasons=("Railway did not answer (HTTP 503); scope unknown.",),
    )
    creds = [railway, aws_admin, aws_ci, github, railway_project]

    resources = [
        Resource(id="railway:project:shop-prod", provider="railway", type="project", name="shop-prod"),
        Resource(
            id="railway:volume-instance:pg-data",
            provider="railway",
            type="volume",
            name="postgres-data",
            parent="railway:project:shop-prod",
            holds_data=True,
        ),
        Resource(
            id="railway:volume-instance:redis-data",
            provider="railway",
            type="volume",
            name="redis-data",
            parent="railway:project:shop-prod",
            holds_data=True,
        ),
        Resource(id="aws:rds:orders-db", provider="aws", type="database", name="orders-db", holds_data=True),
        Resource(id="aws:s3:acme-uploads", provider="aws", type="bucket", name="acme-uploads", holds_data=True),
    ]
    backups = [
        Backup(
            id="railway:backup:pg-data-native",
            provider="railway",
            protects="railway:volume-instance:pg-data",
            location="inside Railway volume postgres-data (native volume backup)",
            kind="volume backup",
            created_at=NOW - timedelta(hours=6),
            dies_with_resource=True,
        ),
        Backup(
            id="aws:s3:acme-backups/railway/pg-data",
            provider="aws",
            protects="railway:volume-instance:pg-data",
            location="s3://acme-backups/railway/pg-data/",
            kind="pg_dump",
            created_at=NOW - timedelta(days=1, hours=2),
            dies_with_resource=False,
            last_verified_at=NOW - timedelta(days=2),
            last_verification="passed",
        ),
        Backup(
            id="aws:rds:orders-db:automated",
            provider="aws",
            protects="aws:rds:orders-db",
            location="RDS automated snapshots of orders-db",
            kind="snapshot",
            created_at=NOW - timedelta(hours=20),
            dies_with_resource=True,
        ),
        Backup(
            id="aws:s3:acme-vault/rds/orders",
            provider="aws",
            protects="aws:rds:orders-db",
            location="s3://acme-vault/rds/orders/ (object lock: compliance, 30 days)",
            kind="export",
            created_at=NOW - timedelta(days=3),
            dies_with_resource=False,
            independent=True,
            last_verified_at=NOW - timedelta(days=9),
            last_verification="failed",
        ),
    ]
    facts = [
        DestroyFact(
            credential=railway.id,
            target="railway:volume-instance:pg-data",
            verdict=True,
            reason="account token: volumeDelete",
            capability="delete:volume",
        ),
        DestroyFact(
            credential=railway.id,
            target="railway:volume-instance:redis-data",
            verdict=True,
            reason="account token: volumeDelete",
            capability="delete:volume",
        ),
        DestroyFact(
            credential=railway.id,
            target="railway:backup:pg-data-native",
            verdict=True,
            reason="volume backups are deleted with the volume",
        ),
        DestroyFact(
            credential=aws_admin.id,
            target="aws:rds:orders-db",
            verdict=True,
            reason="rds:DeleteDBInstance allowed",
            capability="rds:DeleteDBInstance",
        ),
        DestroyFact(
            credential=aws_admin.id,
            target="aws:s3:acme-uploads",
            verdict=True,
            reason="s3:DeleteBucket allowed",
            capability="s3:DeleteBucket",
        ),
        DestroyFact(
            credential=aws_admin.id,
            target="aws:rds:orders-db:automated",
            verdict=True,
            reason="automated snapshots are deleted with the instance",
        ),
        DestroyFact(
            credential=aws_admin.id,
            target="aws:s3:acme-backups/railway/pg-data",
            verdict=True,
            reason="s3:DeleteObject allowed on acme-backups",
        ),
        DestroyFact(
            credential=aws_admin.id,
            target="aws:s3:acme-vault/rds/orders",
            verdict=False,
            reason="compliance-mode object lock",
        ),
        DestroyFact(
            credential=aws_ci.id,
            target="aws:s3:acme-backups/railway/pg-data",
            verdict=None,
            reason="s3:DeleteObject could not be simulated",
        ),
        DestroyFact(credential=aws_ci.id, target="aws:s3:acme-uploads", verdict=False, reason="no access"),
        DestroyFact(credential=aws_ci.id, target="aws:rds:orders-db", verdict=False, reason="no access"),
        DestroyFact(
            credential=aws_ci.id,
            target="aws:s3:acme-vault/rds/orders",
            verdict=False,
            reason="compliance-mode object lock",
        ),
    ]
    br = analyse(creds, resources, backups, facts)
    F = Finding.make
    findings = [
        F(
            "blastwall/root-equivalent-in-agent-config",
            Severity.critical,
            railway.id,
            "A Railway account token that can delete every volume of team Acme is in an MCP config that "
            "AI agents read.",
            "Replace it with a project token scoped to one environment, and rotate it.",
            provider="railway",
            path=f"{HOME}/.claude.json",
            line=14,
        ),
        F(
            "blastwall/secret-in-dotenv",
            Severity.high,
            railway.id,
            "The same Railway account token is in a dotenv file inside the project.",
            "Load it from a secret manager at run time instead of the project's .env.",
            provider="railway",
            path=f"{APP}/.env",
            line=3,
        ),
        F(
            "blastwall/admin-access-key",
            Severity.critical,
            aws_admin.id,
            "A long-lived AWS access key with AdministratorAccess (412 days old) is in ~/.aws/credentials.",
            "Use SSO or short-lived role sessions; delete this access key.",
            provider="aws",
            path=f"{HOME}/.aws/credentials",
            line=2,
        ),
        F(
            "blastwall/secret-in-repository",
            Severity.high,
            aws_ci.id,
            "An AWS access key is committed-style in config/ci.env.",
            "Move it to the CI system's secret store and rotate it.",
            provider="aws",
            path=f"{APP}/config/ci.env",
            line=7,
        ),
        F(
            "blastwall/backup-same-blast-radius",
            Severity.high,
            "railway:backup:pg-data-native",
            "The native backup of postgres-data is deleted together with the volume.",
            "Keep an off-platform copy (blastwall backup) in a store the Railway token cannot reach.",
            provider="railway",
        ),
        F(
            "blastwall/no-backup",
            Severity.high,
            "railway:volume-instance:redis-data",
            "redis-data has no backup at all.",
            "Add a [[backups]] entry for it.",
            provider="railway",
        ),
        F(
            "blastwall/backup-never-verified",
            Severity.medium,
            "aws:rds:orders-db:automated",
            "No restore of these snapshots was ever verified.",
            "Schedule `blastwall verify`.",
            provider="aws",
        ),
        F(
            "blastwall/verification-failed",
            Severity.medium,
            "aws:s3:acme-vault/rds/orders",
            "The last restore verification failed (count_mismatch: orders has 0 rows).",
            "Inspect the export job; run `blastwall verify --full`.",
            provider="aws",
        ),
        F(
            "blastwall/token-in-cli-config",
            Severity.low,
            github.id,
            "A GitHub token with repo scope is stored in plain text by the gh CLI.",
            "Use `gh auth login --with-token` with a keyring-backed store.",
            provider="github",
            path=f"{HOME}/.config/gh/hosts.yml",
            line=3,
        ),
        F(
            "blastwall/provider-unavailable",
            Severity.info,
            railway_project.id,
            "Railway did not answer while identifying a project token; its reach is unknown.",
            "Re-run the audit when Railway is reachable.",
            provider="railway",
        ),
        *extra_findings,
    ]
    gaps = [
        CoverageGap(
            subject="aws rds:DescribeDBSnapshots in eu-west-1", reason="AccessDenied (HTTP 403)", provider="aws"
        ),
        CoverageGap(
            subject=f"railway project token {railway_project.fingerprint}",
            reason="Railway API unavailable (HTTP 503 after 4 retries)",
            provider="railway",
        ),
        CoverageGap(subject=f"{HOME}/.config/flyctl/config.yml", reason="no provider for fly is installed"),
    ]
    return AuditResult(
        generated_at=NOW,
        tool_version="0.1.0",
        scope={"home": HOME, "paths": [APP], "include_env": True, "offline": False},
        credentials=tuple(creds),
        resources=tuple(resources),
        backups=br.backups,
        findings=tuple(findings),
        exposure=br.exposure,
        coverage_gaps=tuple(gaps),
        stats={"files_scanned": 212, "duration_s": 4.2},
        changes=changes,
    )


def sample_changes(result: AuditResult) -> dict:
    cur = [f.model_dump(mode="json") for f in result.findings]
    return {
        "from": {"id": "prev", "generated_at": "2026-11-30T18:30:00+00:00", "n_findings": 9, "n_credentials": 4},
        "to": {
            "id": "cur",
            "generated_at": result.generated_at.isoformat(),
            "n_findings": len(cur),
            "n_credentials": len(result.credentials),
        },
        "new": cur[:2],
        "resolved": [
            {
                "id": "0123456789abcdef",
                "rule": "blastwall/secret-in-dotenv",
                "severity": "high",
                "subject": "cred-000000000000",
                "message": "A Stripe live key was in .env.local.",
                "path": f"{APP}/.env.local",
                "line": 5,
                "provider": "stripe",
            }
        ],
        "counts": {"new": 2, "resolved": 1},
    }
