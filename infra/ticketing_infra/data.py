"""Data: a VPC with isolated subnets only and Aurora Serverless v2 PostgreSQL 16 behind the RDS
Data API, its credentials in Secrets Manager with rotation."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from .log_groups import kept_log_group
from .migrations import Migrations

DATABASE_NAME = "ticketing"
"""The servers' ``*_DATAAPI_DATABASE`` default; each server keeps its own schema in it."""

CLUSTER_IDENTIFIER = "ticketing"
VPC_CIDR = "10.20.0.0/16"

PORT = 5433
"""Not 5432: scanners try the default first. Only the rotation function ever connects on it;
the servers go through the Data API over HTTPS."""


class DataStack(Stack):
    """The system of record. Nothing here is reachable from the internet: the subnets have no
    route out, and the servers reach the cluster through the Data API, not the network."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        flow_logs = kept_log_group(self, "FlowLogs")
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="db", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                )
            ],
            flow_logs={
                "all": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs)
                )
            },
        )
        # The rotation function runs in the isolated subnets and needs Secrets Manager without
        # a route to the internet.
        endpoint_access = ec2.SecurityGroup(
            self,
            "SecretsManagerEndpointAccess",
            vpc=self.vpc,
            description="HTTPS to the Secrets Manager endpoint from inside the VPC only",
            allow_all_outbound=False,
        )
        endpoint_access.add_ingress_rule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443))
        self.vpc.add_interface_endpoint(
            "SecretsManager",
            service=ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
            security_groups=[endpoint_access],
            open=False,
        )

        self.cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            engine=rds.DatabaseClusterEngine.aurora_postgres(
                version=rds.AuroraPostgresEngineVersion.VER_16_9
            ),
            credentials=rds.Credentials.from_generated_secret("ticketing_admin"),
            default_database_name=DATABASE_NAME,
            writer=rds.ClusterInstance.serverless_v2("writer"),
            readers=[rds.ClusterInstance.serverless_v2("reader", scale_with_writer=True)],
            serverless_v2_min_capacity=0.5,
            serverless_v2_max_capacity=8,
            enable_data_api=True,
            vpc=self.vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            port=PORT,
            storage_encrypted=True,
            iam_authentication=True,
            deletion_protection=True,
            backup=rds.BackupProps(retention=Duration.days(14), preferred_window="09:00-10:00"),
            preferred_maintenance_window="Sun:10:30-Sun:11:30",
            cluster_identifier=CLUSTER_IDENTIFIER,
            cloudwatch_logs_exports=["postgresql"],
            removal_policy=RemovalPolicy.SNAPSHOT,
        )
        # Created here rather than by RDS (or CDK's log-retention function, which would bring a
        # Lambda with a managed policy) so that it has a retention from the start.
        postgres_logs = kept_log_group(
            self, "PostgresLogs", log_group_name=f"/aws/rds/cluster/{CLUSTER_IDENTIFIER}/postgresql"
        )
        self.cluster.node.add_dependency(postgres_logs)
        assert self.cluster.secret is not None
        self.secret: secretsmanager.ISecret = self.cluster.secret
        self.cluster.add_rotation_single_user(automatically_after=Duration.days(30))
        self.migrations = Migrations(
            self, "Migrations", cluster=self.cluster, secret=self.secret, database=DATABASE_NAME
        )

    def grant_data_api(self, grantee: iam.IGrantable) -> None:
        """What a server using the Data API backend needs, and nothing else: statements on this
        cluster and reading its credentials (the Data API fetches them with the caller's
        rights)."""
        self.cluster.grant_data_api_access(grantee)
