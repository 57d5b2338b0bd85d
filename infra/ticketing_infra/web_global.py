"""What CloudFront takes from us-east-1 only, for the web app: the certificate of its own name
(``ticketing:domain``) and its web ACL. Every other stack is in us-west-2; the web stack reads
these two across regions (``cross_region_references``: CDK keeps their ARNs in SSM parameters
of us-west-2, written from here at deploy, so `cdk bootstrap` is needed in both regions)."""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct

from .domains import zone_and_certificate
from .gateway import web_acl

CLOUDFRONT_REGION = "us-east-1"


class WebGlobalStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        domain: str,
        hosted_zone_id: str,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        _, self.certificate = zone_and_certificate(
            self, hosted_zone_id=hosted_zone_id, zone_name=domain, domain_name=domain
        )
        # The REST edge's rules (managed common and known-bad-inputs sets, a per-source rate),
        # in front of the app's files and config.json.
        self.web_acl = web_acl(self, "WebAcl", metric_name="web", kind="CLOUDFRONT")
