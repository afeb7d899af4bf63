"""The one way a view reaches what it works with: :func:`services`.

The composition root (:func:`idp.app.create_app`) builds the long-lived objects once and
hands them to :func:`provide`; every view module reads them back through
:func:`services`, so no view builds a service or reaches into ``current_app`` itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:  # imported by the CLI's modules too, which need none of these
    from biometrics.service import FaceService
    from idp.components import Components
    from idp.interactions import InteractionStore
    from idp.oauth import OneTripServer
    from idp.provider import Provider
    from idp.resource import TokenGuard

_KEY = "onetrip.services"


@dataclass(frozen=True)
class Services:
    """What the identity pages and APIs of one app use: the process's long-lived objects
    (:mod:`idp.components`) and the app's own authorization server, token guard and
    store of pending authorizations."""

    components: Components
    server: OneTripServer  # Authlib's authorization server
    require_token: TokenGuard
    interactions: InteractionStore  # pending authorizations (idp/interactions.py)

    @property
    def provider(self) -> Provider:
        return self.components.provider

    @property
    def faces(self) -> FaceService:
        return self.components.faces


def provide(app: Flask, given: Services) -> None:
    """Make ``given`` what :func:`services` returns inside ``app``."""
    app.extensions[_KEY] = given


def services() -> Services:
    """The current app's services (inside a request or app context)."""
    return current_app.extensions[_KEY]


def token_required(*scopes: str) -> Callable:
    """:class:`idp.resource.TokenGuard` for a module-level view: the app's guard, found
    when the view is called (``flask.g.token`` then says whom the token speaks for)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            return services().require_token(*scopes)(view)(*args, **kwargs)

        return guarded

    return decorator
