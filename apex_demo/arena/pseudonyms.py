"""Salted pseudonyms: the only form in which a session, a client address or a user name is kept.

Privacy by construction: the arena never stores who asked, only HMAC-SHA256 of it under the vote
salt (`Settings.vote_salt`, else a random salt per process, so pseudonyms then change on restart).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from apex_demo.arena.records import Visitor

SESSION_HASH_CHARS = 32
SALT_BYTES = 32


class Pseudonyms:
    """Turns what a visitor sends into stable, salted, irreversible keys."""

    def __init__(self, salt: str | None) -> None:
        self._salt = salt.encode() if salt else secrets.token_bytes(SALT_BYTES)

    def of(self, raw: str) -> str:
        """HMAC-SHA256 of `raw` under the salt, shortened: what the store keeps instead of `raw`."""
        return hmac.new(self._salt, str(raw).encode(), hashlib.sha256).hexdigest()[:SESSION_HASH_CHARS]

    def session(self, who: Visitor) -> str:
        """The page (or API client) a battle is bound to."""
        return self.of(who.session)

    def client(self, who: Visitor) -> str:
        """What rate limits count on: the signed-in user, else the client address, else (no web
        request: tests, scripts in-process) the session."""
        if who.user:
            return self.of("user:" + who.user)
        if who.address:
            return self.of("addr:" + who.address)
        return self.of("session:" + who.session)
