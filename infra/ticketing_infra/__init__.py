"""The AWS CDK app of the ticket-upgrade suite: synthesized offline, checked by tests and
cdk-nag."""
