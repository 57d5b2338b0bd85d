"""What every Lambda function of ours starts from: its own log group (kept three months, kept
when the stack goes) and a role of its own that may write to it, and to nothing else until the
caller grants more. Written here rather than left to Lambda's default role (a managed policy)."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from .log_groups import kept_log_group


def function_logs_and_role(
    scope: Construct, logs_id: str, role_id: str, description: str
) -> tuple[logs.LogGroup, iam.Role]:
    """The log group ``logs_id`` and the role ``role_id`` (described by ``description``) that
    may write to it, both in ``scope``."""
    log_group = kept_log_group(scope, logs_id)
    role = iam.Role(
        scope,
        role_id,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=description,
    )
    log_group.grant_write(role)
    return log_group, role
