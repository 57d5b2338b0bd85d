"""Mail: the SES identity the notify server sends from and a configuration set for its events."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_ses as ses
from constructs import Construct


@dataclass(frozen=True)
class MailSettings:
    """What the notify server's SES backend is pointed at."""

    sender: str
    configuration_set: str
    identity_arn: str
    configuration_set_arn: str


class MailStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, mail_domain: str, **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.identity = ses.EmailIdentity(self, "Domain", identity=ses.Identity.domain(mail_domain))
        self.configuration_set = ses.ConfigurationSet(
            self,
            "Sending",
            configuration_set_name="ticketing",
            reputation_metrics=True,
            sending_enabled=True,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
        )
        self.settings = MailSettings(
            sender=f"Ticket Upgrades <no-reply@{mail_domain}>",
            configuration_set=self.configuration_set.configuration_set_name,
            identity_arn=self.format_arn(
                service="ses", resource="identity", resource_name=mail_domain
            ),
            configuration_set_arn=self.format_arn(
                service="ses",
                resource="configuration-set",
                resource_name=self.configuration_set.configuration_set_name,
            ),
        )
