"""The schemas' migrations at deploy: a custom resource whose function
(``ticketing.migrate_resource.handler``, the project's Lambda image) applies every component's
pending migrations over the RDS Data API, with the same runner as ``ticketing db migrate``."""

from __future__ import annotations

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from .functions import function_logs_and_role
from .images import lambda_code, migrations_hash

HANDLER = "ticketing.migrate_resource.handler"


class Migrations(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: rds.DatabaseCluster,
        secret: secretsmanager.ISecret,
        database: str,
    ) -> None:
        super().__init__(scope, construct_id)
        # Its logs, the Data API on this cluster and reading its secret (the Data API uses the
        # caller's rights).
        log_group, self.role = function_logs_and_role(
            self, "Logs", "Role", "Runs the schema migrations over the RDS Data API at deploy"
        )
        cluster.grant_data_api_access(self.role)
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            description="Applies the schemas' pending migrations over the RDS Data API",
            code=lambda_code(HANDLER),
            architecture=lambda_.Architecture.ARM_64,
            memory_size=512,
            # The Data API answers within 45 s a statement; a paused cluster resumes in ~15 s.
            timeout=Duration.minutes(5),
            role=self.role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            # Deploys of one stack run one at a time; two runners would take turns anyway
            # (the runner's advisory lock).
            reserved_concurrent_executions=1,
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.function.function_arn,
            resource_type="Custom::Migrations",
            properties={
                "ClusterArn": cluster.cluster_arn,
                "SecretArn": secret.secret_arn,
                "Database": database,
                "Region": Stack.of(self).region,
                "MigrationsHash": migrations_hash(),
            },
        )
        # The writer must be up before the first statement.
        self.resource.node.add_dependency(cluster)
