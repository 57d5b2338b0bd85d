"""Local stand-ins of the AWS services the servers can use (the RDS Data API, SES v2), for the
tests and local runs only: no server imports them. Each hands out a real boto3 client whose
calls botocore validates against the service's model and answers inside the process."""
