"""Alarms on every runtime's system errors and throttles, and the cluster's CPU and the user
pool's throttling, to one SNS topic an operator subscribes to."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from .runtimes import RuntimesStack


class ObservabilityStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, runtimes: RuntimesStack, **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.topic = sns.Topic(
            self,
            "Alarms",
            display_name="Ticket upgrades: alarms",
            enforce_ssl=True,
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
        )
        action = actions.SnsAction(self.topic)
        five_minutes = Duration.minutes(5)
        for name, runtime in runtimes.runtimes.items():
            for kind, metric, threshold in (
                # Any 5xx of our own is worth a look; a few throttles are AgentCore smoothing
                # a burst, a steady stream is a quota to raise.
                ("SystemErrors", runtime.metric_system_errors(period=five_minutes), 1),
                ("Throttles", runtime.metric_throttles(period=five_minutes), 10),
            ):
                alarm = cloudwatch.Alarm(
                    self,
                    f"{name.capitalize()}{kind}",
                    alarm_description=f"The {name} MCP server's runtime: {kind} over 5 minutes",
                    metric=metric,
                    threshold=threshold,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
                alarm.add_alarm_action(action)
