"""The provider's services, built once per process from the runtime."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import Row

from config.outbound import Documents
from config.runtime import Runtime
from config.throttle import Throttle
from idp.clients import ClientCache, client_documents
from idp.keys import KeyRing
from idp.passwords import Passwords
from idp.sso import SsoStore
from idp.tokens import TokenService
from idp.totp import Authenticators
from idp.users import SIGN_IN_COLUMNS


class Provider:
    """Everything the web layer, the CLI and the resource guard share."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.db = runtime.db

    @cached_property
    def keyring(self) -> KeyRing:
        return KeyRing(self.db, self.settings)

    @cached_property
    def tokens(self) -> TokenService:
        return TokenService(self.runtime, self.keyring)

    @cached_property
    def clients(self) -> ClientCache:
        return ClientCache(self.db, self.settings, lambda: self.runtime.redis)

    @cached_property
    def documents(self) -> Documents:
        """What clients' URLs lead to (JWK Sets, sector identifiers, logos), cached."""
        return client_documents(self.settings, lambda: self.runtime.redis)

    @cached_property
    def passwords(self) -> Passwords:
        return Passwords(self.settings)

    def sign_in_record(self, username: str) -> Row | None:
        """What a password login needs of the account ``username`` (see
        :data:`idp.users.SIGN_IN_COLUMNS`), or None when there is none."""
        return self.db.first(SIGN_IN_COLUMNS, username=username)

    @cached_property
    def sso(self) -> SsoStore:
        return SsoStore(self.runtime.redis, self.settings)

    @cached_property
    def login_throttle(self) -> Throttle:
        return Throttle(self.runtime.redis, self.settings, "login")

    @cached_property
    def authenticators(self) -> Authenticators:
        """Authenticator apps (TOTP) of the accounts, with their own throttle."""
        return Authenticators(self.db, self.runtime.redis, self.settings)
