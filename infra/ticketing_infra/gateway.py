"""What every API Gateway REST API of ours has (the REST edge, the MCP servers' own names): a
stage throttled, with execution logs of errors (never bodies: they carry tokens), X-Ray tracing
and JSON access logs; and a WAF web ACL of AWS's managed common and known-bad-input rule groups
and a rate limit per source address (regional for the APIs, CloudFront's for the web app)."""

from __future__ import annotations

from typing import Literal

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

PER_IP_PER_5_MINUTES = 500
"""Requests one source address may make in five minutes before the ACL blocks it for a while."""


def stage_options(
    access_logs: logs.ILogGroup, *, rate_limit: int, burst_limit: int
) -> apigw.StageOptions:
    """Stage ``v1``: ``rate_limit`` requests per second across it (``burst_limit`` at once).
    Execution logs need API Gateway's account-wide CloudWatch role (the REST edge's API sets
    it)."""
    return apigw.StageOptions(
        stage_name="v1",
        throttling_rate_limit=rate_limit,
        throttling_burst_limit=burst_limit,
        logging_level=apigw.MethodLoggingLevel.ERROR,
        data_trace_enabled=False,  # bodies carry chat text and tokens
        tracing_enabled=True,
        access_log_destination=apigw.LogGroupLogDestination(access_logs),
        access_log_format=access_log_format(),
    )


def access_log_format() -> apigw.AccessLogFormat:
    """What every API's access log line holds: no caller or user (no identities in logs)."""
    return apigw.AccessLogFormat.json_with_standard_fields(
        caller=False,
        http_method=True,
        ip=True,
        protocol=True,
        request_time=True,
        resource_path=True,
        response_length=True,
        status=True,
        user=False,
    )


def web_acl(
    scope: Construct,
    construct_id: str,
    *,
    metric_name: str,
    kind: Literal["REGIONAL", "CLOUDFRONT"],
) -> wafv2.CfnWebACL:
    """A web ACL for API Gateway stages in this region (``REGIONAL``, one
    ``CfnWebACLAssociation`` each) or for a CloudFront distribution (``CLOUDFRONT``, made in
    us-east-1 and named by the distribution)."""
    return wafv2.CfnWebACL(
        scope,
        construct_id,
        scope=kind,
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=_visibility(metric_name),
        rules=[
            _managed("AWSManagedRulesCommonRuleSet", 1),
            _managed("AWSManagedRulesKnownBadInputsRuleSet", 2),
            wafv2.CfnWebACL.RuleProperty(
                name="PerSourceRate",
                priority=3,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP", limit=PER_IP_PER_5_MINUTES
                    )
                ),
                visibility_config=_visibility("per-source-rate"),
            ),
        ],
    )


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _managed(name: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS", name=name
            )
        ),
        visibility_config=_visibility(name),
    )
