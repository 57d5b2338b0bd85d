"""Our own names for the edges' APIs: a certificate validated by DNS in the domain's hosted zone
(``ticketing:hostedZoneId``) for an API Gateway custom domain, and the alias record that points
the name at it."""

from __future__ import annotations

from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_route53 as route53
from constructs import Construct


def zone_and_certificate(
    scope: Construct, *, hosted_zone_id: str, zone_name: str, domain_name: str
) -> tuple[route53.IHostedZone, acm.Certificate]:
    """The hosted zone (by its id: a lookup would need AWS at synth) and a certificate for
    ``domain_name`` in it, issued once its validation record is there, at deploy."""
    zone = route53.HostedZone.from_hosted_zone_attributes(
        scope, "Zone", hosted_zone_id=hosted_zone_id, zone_name=zone_name
    )
    certificate = acm.Certificate(
        scope,
        "Certificate",
        domain_name=domain_name,
        validation=acm.CertificateValidation.from_dns(zone),
    )
    return zone, certificate


def alias_record(
    scope: Construct,
    zone: route53.IHostedZone,
    domain_name: str,
    target: route53.IAliasRecordTarget,
) -> route53.ARecord:
    """``domain_name`` in ``zone``, pointed at ``target`` (an API Gateway custom domain)."""
    return route53.ARecord(
        scope,
        "Alias",
        zone=zone,
        record_name=domain_name,
        target=route53.RecordTarget.from_alias(target),
    )
