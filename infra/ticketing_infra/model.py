"""The concierge's model on Amazon Bedrock and the one IAM statement that lets the host call it."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_iam as iam


@dataclass(frozen=True)
class InferenceProfile:
    """A cross-region inference profile: the host calls the profile, which routes each request
    to the model in one of its regions, so both must be allowed."""

    profile_id: str
    model_id: str
    regions: tuple[str, ...]

    def invoke_statement(self, stack: Stack) -> iam.PolicyStatement:
        # Converse is authorized as InvokeModel, ConverseStream as
        # InvokeModelWithResponseStream; named models only, no wildcard.
        return iam.PolicyStatement(
            actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            resources=[
                f"arn:{stack.partition}:bedrock:{stack.region}:{stack.account}:"
                f"inference-profile/{self.profile_id}",
                *(
                    f"arn:{stack.partition}:bedrock:{region}::foundation-model/{self.model_id}"
                    for region in self.regions
                ),
            ],
        )


CONCIERGE_MODEL = InferenceProfile(
    # docs/ARCHITECTURE.md: Amazon Nova Pro by default, us-west-2; the US profile routes to
    # these three regions.
    profile_id="us.amazon.nova-pro-v1:0",
    model_id="amazon.nova-pro-v1:0",
    regions=("us-east-1", "us-east-2", "us-west-2"),
)
