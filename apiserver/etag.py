"""ETags for documents that change only when the server's API does (discovery, OpenAPI).

Computed as upstream's aggregated-discovery and OpenAPI v3 handlers do (upper-case hex
SHA-512 of the body, quoted), so client-go's caches revalidate with If-None-Match → 304.
"""

from __future__ import annotations

import hashlib


def body_hash(body: bytes) -> str:
    """Upper-case hex SHA-512: also the `?hash=` of an OpenAPI v3 document URL."""
    return hashlib.sha512(body).hexdigest().upper()


def etag(body: bytes) -> str:
    """A strong ETag (quoted) for `body`."""
    return f'"{body_hash(body)}"'


def etag_matches(if_none_match: str | None, current: str) -> bool:
    """Whether an If-None-Match header names `current` (lists, `*` and weak forms allowed:
    If-None-Match compares weakly, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    wanted = current.removeprefix("W/")
    candidates = (part.strip() for part in if_none_match.split(","))
    return any(tag == "*" or tag.removeprefix("W/") == wanted for tag in candidates)
