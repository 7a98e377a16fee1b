"""An account in moto with one escalating principal and one control principal per edge kind.

For every existing-resource kind there are two resources: ``<kind>-admin`` runs with role ``power``
(AdministratorAccess) and ``<kind>-plain`` with role ``plain`` (reads one bucket). The escalating
principal holds the edge's actions on the admin resource, the control principal the same actions on
the plain one. Everything is created through the public AWS APIs.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from tests.aws.scenario import ACCOUNT, Keys, _user, allow, doc

SERVICES = [
    "lambda.amazonaws.com",
    "ec2.amazonaws.com",
    "glue.amazonaws.com",
    "cloudformation.amazonaws.com",
    "sagemaker.amazonaws.com",
    "codebuild.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "datapipeline.amazonaws.com",
    "ssm.amazonaws.com",
]
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


@dataclass
class Edge:
    """One escalation edge kind: who escalates (``esc``), who does not (``ctl``), and what the path says."""

    name: str
    actions: tuple[str, ...]
    needle: str  # must appear in the escalating principal's path
    admin_arn: str = ""
    plain_arn: str = ""
    extra_admin: tuple[str, ...] = ()  # further ARNs an action of the edge targets (launch template)
    extra_plain: tuple[str, ...] = ()


@dataclass
class EdgeScenario:
    keys: dict[str, Keys] = field(default_factory=dict)
    edges: dict[str, Edge] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return 1\n")
    return buf.getvalue()


def _roles(iam: Any) -> dict[str, str]:
    trust = doc({"Effect": "Allow", "Principal": {"Service": SERVICES}, "Action": "sts:AssumeRole"})
    out = {}
    for name in ("power", "plain"):
        r = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]
        out[name] = r["Arn"]
        prof = iam.create_instance_profile(InstanceProfileName=f"{name}-profile")["InstanceProfile"]
        iam.add_role_to_instance_profile(InstanceProfileName=f"{name}-profile", RoleName=name)
        out[f"{name}-profile"] = prof["Arn"]
    iam.attach_role_policy(RoleName="power", PolicyArn=ADMIN)
    iam.put_role_policy(
        RoleName="plain",
        PolicyName="read-one-bucket",
        PolicyDocument=doc(allow("s3:GetObject", "arn:aws:s3:::public-assets/*")),
    )
    return out


def _resources(moto: Any, roles: dict[str, str]) -> dict[str, dict[str, str]]:
    """``{kind: {"admin": arn, "plain": arn, ...}}`` for every existing-resource kind."""
    region = "us-east-1"
    out: dict[str, dict[str, str]] = {}
    lam = moto.client("lambda")
    glue = moto.client("glue")
    ec2 = moto.client("ec2")
    cfn = moto.client("cloudformation")
    sm = moto.client("sagemaker")
    cb = moto.client("codebuild")
    ecs = moto.client("ecs")
    dp = moto.client("datapipeline")
    asg = moto.client("autoscaling")
    ecs.create_cluster(clusterName="jobs")
    template = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    for tier, role in (("admin", "power"), ("plain", "plain")):
        rarn, parn = roles[role], roles[f"{role}-profile"]
        f = lam.create_function(
            FunctionName=f"fn-{tier}",
            Runtime="python3.12",
            Role=rarn,
            Handler="index.handler",
            Code={"ZipFile": _zip()},
        )
        out.setdefault("lambda-function", {})[tier] = f["FunctionArn"]
        glue.create_dev_endpoint(EndpointName=f"dev-{tier}", RoleArn=rarn)
        out.setdefault("glue-dev-endpoint", {})[tier] = f"arn:aws:glue:{region}:{ACCOUNT}:devEndpoint/dev-{tier}"
        inst = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, IamInstanceProfile={"Arn": parn})[
            "Instances"
        ][0]
        out.setdefault("ec2-instance", {})[tier] = f"arn:aws:ec2:{region}:{ACCOUNT}:instance/{inst['InstanceId']}"
        out["ec2-instance"][f"{tier}-id"] = inst["InstanceId"]
        st = cfn.create_stack(StackName=f"stack-{tier}", TemplateBody=template, RoleARN=rarn)
        out.setdefault("cloudformation-stack", {})[tier] = st["StackId"]
        nb = sm.create_notebook_instance(NotebookInstanceName=f"nb-{tier}", InstanceType="ml.t2.medium", RoleArn=rarn)
        out.setdefault("sagemaker-notebook", {})[tier] = nb["NotebookInstanceArn"]
        p = cb.create_project(
            name=f"build-{tier}",
            source={"type": "S3", "location": "build-sources/app.zip"},
            artifacts={"type": "NO_ARTIFACTS"},
            serviceRole=rarn,
            environment={
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
            },
        )["project"]
        out.setdefault("codebuild-project", {})[tier] = p["arn"]
        td = ecs.register_task_definition(
            family=f"task-{tier}",
            taskRoleArn=rarn,
            containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64}],
        )["taskDefinition"]
        out.setdefault("ecs-task-definition", {})[tier] = td["taskDefinitionArn"]
        t = ecs.run_task(
            cluster="jobs",
            taskDefinition=td["taskDefinitionArn"],
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
        )["tasks"][0]
        out.setdefault("ecs-task", {})[tier] = t["taskArn"]
        pid = dp.create_pipeline(name=f"pipe-{tier}", uniqueId=f"pipe-{tier}")["pipelineId"]
        dp.put_pipeline_definition(
            pipelineId=pid,
            pipelineObjects=[
                {
                    "id": "Default",
                    "name": "Default",
                    "fields": [
                        {"key": "role", "stringValue": role},
                        {"key": "resourceRole", "stringValue": f"{role}-profile"},
                    ],
                }
            ],
        )
        out.setdefault("datapipeline", {})[tier] = f"arn:aws:datapipeline:{region}:{ACCOUNT}:pipeline/{pid}"
        lt = ec2.create_launch_template(
            LaunchTemplateName=f"lt-{tier}",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "IamInstanceProfile": {"Arn": parn}},
        )["LaunchTemplate"]
        asg.create_auto_scaling_group(
            AutoScalingGroupName=f"asg-{tier}",
            MinSize=0,
            MaxSize=0,
            AvailabilityZones=[f"{region}a"],
            LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Default"},
        )
        g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"asg-{tier}"])["AutoScalingGroups"][0]
        out.setdefault("autoscaling-group", {})[tier] = g["AutoScalingGroupARN"]
        out["autoscaling-group"][f"{tier}-lt"] = (
            f"arn:aws:ec2:{region}:{ACCOUNT}:launch-template/{lt['LaunchTemplateId']}"
        )
    return out


EDGES: list[tuple[str, str, tuple[str, ...], str]] = [
    # (name, resource kind, actions, needle in the path)
    (
        "lambda-update-code",
        "lambda-function",
        ("lambda:UpdateFunctionCode",),
        "lambda:UpdateFunctionCode on function fn-admin (runs as role/power",
    ),
    (
        "lambda-config-invoke",
        "lambda-function",
        ("lambda:UpdateFunctionConfiguration", "lambda:InvokeFunction"),
        "lambda:UpdateFunctionConfiguration + lambda:InvokeFunction on function fn-admin",
    ),
    (
        "lambda-add-permission",
        "lambda-function",
        ("lambda:UpdateFunctionConfiguration", "lambda:AddPermission"),
        "lambda:UpdateFunctionConfiguration + lambda:AddPermission on function fn-admin",
    ),
    (
        "glue-dev-endpoint",
        "glue-dev-endpoint",
        ("glue:UpdateDevEndpoint",),
        "glue:UpdateDevEndpoint on Glue dev endpoint dev-admin (runs as role/power",
    ),
    (
        "ec2-instance-connect",
        "ec2-instance",
        ("ec2-instance-connect:SendSSHPublicKey",),
        "ec2-instance-connect:SendSSHPublicKey on instance",
    ),
    (
        "ec2-user-data",
        "ec2-instance",
        ("ec2:ModifyInstanceAttribute", "ec2:StopInstances", "ec2:StartInstances"),
        "ec2:ModifyInstanceAttribute + ec2:StopInstances + ec2:StartInstances on instance",
    ),
    (
        "cfn-update-stack",
        "cloudformation-stack",
        ("cloudformation:UpdateStack",),
        "cloudformation:UpdateStack on stack stack-admin (runs as role/power",
    ),
    (
        "cfn-change-set",
        "cloudformation-stack",
        ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"),
        "cloudformation:CreateChangeSet + cloudformation:ExecuteChangeSet on stack stack-admin",
    ),
    (
        "sagemaker-notebook",
        "sagemaker-notebook",
        ("sagemaker:CreatePresignedNotebookInstanceUrl",),
        "sagemaker:CreatePresignedNotebookInstanceUrl on notebook instance nb-admin",
    ),
    (
        "codebuild-start-build",
        "codebuild-project",
        ("codebuild:StartBuild",),
        "codebuild:StartBuild on project build-admin (runs as role/power; buildspec override at StartBuild)",
    ),
    ("ecs-run-task", "ecs-task-definition", ("ecs:RunTask",), "ecs:RunTask on task definition task-admin:1"),
    ("ecs-execute-command", "ecs-task", ("ecs:ExecuteCommand",), "ecs:ExecuteCommand on task"),
    (
        "datapipeline",
        "datapipeline",
        ("datapipeline:PutPipelineDefinition", "datapipeline:ActivatePipeline"),
        "datapipeline:PutPipelineDefinition + datapipeline:ActivatePipeline on pipeline pipe-admin",
    ),
    (
        "autoscaling-launch-template",
        "autoscaling-group",
        ("ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"),
        "ec2:CreateLaunchTemplateVersion + ec2:ModifyLaunchTemplate on Auto Scaling group asg-admin",
    ),
]


def build_edges(moto: Any) -> EdgeScenario:
    sc = EdgeScenario()
    iam = moto.client("iam")
    roles = _roles(iam)
    res = _resources(moto, roles)
    sc.arns.update(roles)
    for name, kind, actions, needle in EDGES:
        e = Edge(name, actions, needle, res[kind]["admin"], res[kind]["plain"])
        if kind == "autoscaling-group":
            e.extra_admin, e.extra_plain = (res[kind]["admin-lt"],), (res[kind]["plain-lt"],)
        sc.edges[name] = e
        for who, arns in (("esc", (e.admin_arn, *e.extra_admin)), ("ctl", (e.plain_arn, *e.extra_plain))):
            user = f"{who}-{name}"
            _user(iam, user, sc)  # type: ignore[arg-type]
            iam.put_user_policy(UserName=user, PolicyName="edge", PolicyDocument=doc(allow(list(actions), list(arns))))
    sc.arns["ec2-admin-id"] = res["ec2-instance"]["admin-id"]
    sc.arns["ec2-plain-id"] = res["ec2-instance"]["plain-id"]
    return sc
