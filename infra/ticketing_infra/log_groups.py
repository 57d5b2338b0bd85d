"""How long every log group of ours keeps its logs, and that it outlives its stack."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct


def kept_log_group(
    scope: Construct, construct_id: str, *, log_group_name: str | None = None
) -> logs.LogGroup:
    """A log group kept three months and kept when the stack goes (logs of an incident must
    survive a teardown). ``log_group_name`` where AWS writes to a fixed name (RDS)."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=log_group_name,
        retention=logs.RetentionDays.THREE_MONTHS,
        removal_policy=RemovalPolicy.RETAIN,
    )
