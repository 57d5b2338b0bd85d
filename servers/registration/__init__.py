"""Client registration for Amazon Cognito: the OAuth pieces Cognito lacks, at our edge.

Cognito has neither Dynamic Client Registration (RFC 7591) nor authorization-server metadata
that advertises it. This package is an AWS Lambda behind API Gateway that registers public
clients as Cognito app clients and serves an RFC 8414 document whose authorization, token,
revocation and JWKS endpoints are Cognito's own. See README.md beside this file.
"""
