"""``python -m ticketing_infra``: the CDK app the `cdk` CLI runs (infra/cdk.json)."""

from aws_cdk import App

from .app import build

build(App()).synth()
