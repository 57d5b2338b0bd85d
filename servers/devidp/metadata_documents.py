"""Client ID Metadata Documents (MCP authorization spec 2025-11-25).

A client may use an https URL as its ``client_id``; the document at that URL is its metadata.
Nothing is registered: the provider fetches the document when the client first appears, checks
that it names itself (``client_id`` equals the URL) and that its redirect URIs follow the same
policy as registration, and keeps it for a while. The fetch is bounded in size, time and
redirects, since anybody can make the provider fetch a URL of their choosing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from servers.devidp.clients import Client
from servers.devidp.redirects import is_loopback_host
from servers.devidp.registration import RegistrationError, parse_client_metadata

MAX_DOCUMENT_BYTES = 5 * 1024
FETCH_TIMEOUT_SECONDS = 5.0
CACHE_SECONDS = 600
MAX_CACHED = 256
MAX_URL_LENGTH = 2000

logger = logging.getLogger(__name__)


class ClientMetadataError(Exception):
    """The document cannot be used; the message says why, for the user and the client."""


def looks_like_document_url(client_id: str) -> bool:
    """Whether ``client_id`` should be resolved as a metadata document rather than looked up."""
    return client_id.startswith(("https://", "http://"))


class ClientMetadataDocuments:
    """Fetches, validates and caches clients' metadata documents.

    ``allow_loopback_http`` (dev mode) also accepts ``http://127.0.0.1:.../`` documents, so that
    tests and local experiments can serve one; everywhere else a document must be https.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        allow_loopback_http: bool,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._clock = clock
        self._allow_loopback_http = allow_loopback_http
        self._transport = transport
        self._cache: dict[str, tuple[float, Client]] = {}

    def _check_url(self, url: str) -> None:
        if len(url) > MAX_URL_LENGTH:
            raise ClientMetadataError(f"client_id URL is longer than {MAX_URL_LENGTH} characters")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as exc:
            raise ClientMetadataError("client_id is not a valid URL") from exc
        if parts.scheme == "http":
            if not (self._allow_loopback_http and is_loopback_host(parts.hostname)):
                raise ClientMetadataError("a client_id URL must be https")
        elif parts.scheme != "https":
            raise ClientMetadataError("a client_id URL must be https")
        if not parts.hostname or parts.username is not None or parts.password is not None:
            raise ClientMetadataError("a client_id URL needs a host and no credentials")
        if parts.fragment or "#" in url:
            raise ClientMetadataError("a client_id URL must not have a fragment")
        if parts.path in {"", "/"}:
            raise ClientMetadataError("a client_id URL must have a path")
        if any(segment in {".", ".."} for segment in parts.path.split("/")):
            raise ClientMetadataError("a client_id URL must not have . or .. segments")

    async def get(self, url: str) -> Client:
        """The client the document at ``url`` describes (from the cache while it is fresh)."""
        now = self._clock()
        cached = self._cache.get(url)
        if cached is not None and cached[0] > now:
            return cached[1]
        self._check_url(url)
        try:
            # The whole fetch, not each read: a server dripping a byte at a time is cut off too.
            async with asyncio.timeout(FETCH_TIMEOUT_SECONDS):
                body = await self._fetch(url)
        except TimeoutError as exc:
            raise ClientMetadataError("fetching the client metadata document timed out") from exc
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ClientMetadataError("the client metadata document is not JSON") from exc
        if not isinstance(document, dict) or document.get("client_id") != url:
            raise ClientMetadataError("the client metadata document's client_id must equal its URL")
        try:
            metadata = parse_client_metadata(document)
        except RegistrationError as exc:
            raise ClientMetadataError(f"the client metadata document: {exc.description}") from exc
        client = metadata.to_client(url)
        if len(self._cache) >= MAX_CACHED:
            self._cache = {u: e for u, e in self._cache.items() if e[0] > now}
            while len(self._cache) >= MAX_CACHED:
                del self._cache[next(iter(self._cache))]
        self._cache[url] = (now + CACHE_SECONDS, client)
        logger.info("client metadata document %s: %s", url, client.client_name or "(no name)")
        return client

    async def _fetch(self, url: str) -> bytes:
        # No redirects: the document must be served at the URL that names it.
        async with httpx.AsyncClient(
            transport=self._transport,
            follow_redirects=False,
            timeout=httpx.Timeout(FETCH_TIMEOUT_SECONDS),
            headers={"Accept": "application/json"},
            trust_env=False,
        ) as http:
            try:
                async with http.stream("GET", url) as response:
                    if response.is_redirect:
                        raise ClientMetadataError(
                            f"the client metadata document redirects ({response.status_code}); "
                            "it must be served at its own URL"
                        )
                    if response.status_code != 200:
                        raise ClientMetadataError(
                            f"fetching the client metadata document answered {response.status_code}"
                        )
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > MAX_DOCUMENT_BYTES:
                            raise ClientMetadataError(
                                f"the client metadata document exceeds {MAX_DOCUMENT_BYTES} bytes"
                            )
                    return bytes(body)
            except httpx.TimeoutException as exc:
                raise ClientMetadataError(
                    "fetching the client metadata document timed out"
                ) from exc
            except httpx.HTTPError as exc:
                logger.info("client metadata document %s: %s", url, exc)
                raise ClientMetadataError("the client metadata document cannot be fetched") from exc
