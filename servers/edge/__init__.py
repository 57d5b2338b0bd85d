"""AWS Lambda functions at the edge of the deployment (infra/): small, standard library only."""
