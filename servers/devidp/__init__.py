"""Dev identity provider: a local stand-in for Amazon Cognito that issues the same token shapes.

It signs Cognito-shaped RS256 tokens with a key kept under ``IDP_KEY_DIR``, serves discovery and
JWKS, and implements client credentials and authorization code + PKCE with a login page for the
customers in the data server's database. It only runs with ``DEV_MODE=1``.
"""
