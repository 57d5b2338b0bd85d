"""Alarms to one SNS topic an operator subscribes to: every runtime's system errors and
throttles, and on the edges every API's 5xx answers and every function's errors and throttles.

What CloudWatch measures on the edges, and so what is alarmed:

- API Gateway REST APIs (the REST edge, the MCP servers' names) publish ``5XXError``; HTTP APIs
  (the registration edge) ``5xx``. Any 5xx is a fault of ours or of a backend (a runtime, a
  function), so one in five minutes raises the alarm.
- The gateways' own throttling (stage limits, the usage plan) has no metric of its own: its
  ``429`` answers are counted in ``4XXError``/``4xx`` with every ``401`` and ``404``, and on the
  MCP servers' names a ``401`` is the normal first step of every assistant's sign-in. So no
  alarm on 4xx, which would fire on sign-ins, not on throttling.
- Lambda publishes ``Errors`` (the handler failed or timed out) and ``Throttles`` (no
  concurrency left: the registration edge's is reserved at 10, the others share the
  account's). Behind the Lambda Web Adapter an application's 5xx is an answer, not an error,
  and is seen in the API's 5xx instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from .runtimes import RuntimesStack

FIVE_MINUTES = Duration.minutes(5)


class ObservabilityStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtimes: RuntimesStack,
        rest_apis: Mapping[str, apigw.RestApi],
        http_apis: Mapping[str, apigwv2.HttpApi],
        functions: Mapping[str, lambda_.IFunction],
        **kwargs: object,
    ) -> None:
        """``rest_apis``, ``http_apis``, ``functions``: the edges' APIs and the functions behind
        them, by a name in PascalCase that becomes the alarm's id; this stack depends on the
        stacks that own them, never the other way round."""
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.topic = sns.Topic(
            self,
            "Alarms",
            display_name="Ticket upgrades: alarms",
            enforce_ssl=True,
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
        )
        self._action = actions.SnsAction(self.topic)
        for name, runtime in runtimes.runtimes.items():
            title = name.capitalize()
            what = f"The {name} MCP server's runtime"
            # Any 5xx of our own is worth a look; a few throttles are AgentCore smoothing a
            # burst, a steady stream is a quota to raise.
            self._alarm(f"{title}SystemErrors", what, runtime.metric_system_errors(), 1)
            self._alarm(f"{title}Throttles", what, runtime.metric_throttles(), 10)
        for name, api in rest_apis.items():
            self._alarm(f"{name}ServerErrors", f"The {name} API", api.metric_server_error(), 1)
        for name, http_api in http_apis.items():
            what = f"The {name} API"
            self._alarm(f"{name}ServerErrors", what, http_api.metric_server_error(), 1)
        for name, function in functions.items():
            what = f"The {name} function"
            self._alarm(f"{name}Errors", what, function.metric_errors(), 1)
            self._alarm(f"{name}Throttles", what, function.metric_throttles(), 1)

    def _alarm(
        self, construct_id: str, what: str, metric: cloudwatch.Metric, threshold: int
    ) -> None:
        """An alarm on ``metric``'s sum over five minutes reaching ``threshold``, to the topic;
        no data (no traffic) is not a breach."""
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=f"{what}: {metric.metric_name} over 5 minutes",
            metric=metric.with_(period=FIVE_MINUTES, statistic=cloudwatch.Stats.SUM),
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
