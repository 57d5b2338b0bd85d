"""``python -m servers.devidp``: run the dev identity provider (only with ``DEV_MODE=1``)."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from servers.core import limits
from servers.devidp.app import MAX_BODY_BYTES, build_app
from servers.devidp.settings import IdpSettings
from servers.devidp.users import PostgresUserDirectory, UnconfiguredUserDirectory, UserDirectory

REFUSAL = (
    "The dev identity provider issues real-looking tokens for anyone; it only runs with "
    "DEV_MODE=1. In AWS use Amazon Cognito."
)

logger = logging.getLogger("servers.devidp")


def main() -> int:
    try:
        settings = IdpSettings()
    except ValidationError as exc:
        print(f"Invalid dev identity provider settings:\n{exc}", file=sys.stderr)
        return 2
    if not settings.dev_mode:
        print(REFUSAL, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    users: UserDirectory
    if settings.database_url:
        users = PostgresUserDirectory(settings.database_url)
    else:
        logger.warning("no IDP_DATABASE_URL or DATABASE_URL: customers cannot sign in")
        users = UnconfiguredUserDirectory()
    # The kit's edge limits, as on every server: bodies bounded while streaming, callers by
    # peer address (the provider sees no bearer tokens), slow headers cut off.
    app = limits.BodyLimit(
        limits.RateLimit(
            build_app(settings, users=users),
            per_second=limits.RATE_PER_SECOND,
            burst=limits.RATE_BURST,
            exempt_paths=["/health"],
        ),
        max_bytes=MAX_BODY_BYTES,
        timeout_seconds=limits.BODY_TIMEOUT_SECONDS,
    )
    logger.info("dev identity provider at %s (key in %s)", settings.issuer, settings.key_dir)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        http=limits.http_protocol(limits.HEADER_TIMEOUT_SECONDS),
        timeout_keep_alive=limits.KEEP_ALIVE_SECONDS,
        limit_concurrency=limits.MAX_CONCURRENCY,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
