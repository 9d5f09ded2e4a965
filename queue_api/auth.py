"""`Authorization: Key <key>` against stored sha256 digests, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac


def key_digest(key: str) -> str:
    """The sha256 hex digest a deployment stores for `key` (also: `printf %s "$KEY" | sha256sum`)."""
    return hashlib.sha256(key.encode()).hexdigest()


def authenticate(header: str | None, digests: frozenset[str]) -> str | None:
    """The caller's key digest, or None for a missing, malformed or unknown key."""
    if not header:
        return None
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "key" or not key:
        return None
    digest = key_digest(key)
    # Compare against every stored digest without stopping at a match, so timing says nothing about which matched.
    matched = False
    for known in digests:
        matched |= hmac.compare_digest(digest, known)
    return digest if matched else None


def owner_tag(digest: str) -> str:
    """The Prefect run tag that marks a run as this key's: a prefix of the digest, enough to tell keys apart,
    visible in the UI without handing out the stored digest itself."""
    return f"api-key:{digest[:16]}"
