"""AWS provider (issue 4): STS identification, self-evaluated effective IAM permissions, admin
reachability through privilege-escalation edges, data-destruction capabilities and a backup
inventory with destroy facts for the blast-radius engine."""

from .provider import AwsProvider

__all__ = ["AwsProvider"]
