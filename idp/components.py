"""The composition root's long-lived objects: built once per process and handed down.

:func:`build` is the one place that assembles them for a runtime: the provider (keys,
tokens, clients, sessions), the certificate authority with its OCSP responder and
time-stamp authority, signing's view of that CA, and the face service. ``create_app``
builds them for the web app, ``onetrip serve`` for its parent process (the audit anchor's
time-stamps), and a CLI command that needs one builds it when it runs.

Each domain keeps one of its objects per owner (:meth:`config.runtime.Sharing.shared`: the
CA per runtime, its responder and TSA per CA), so code deep in a domain (a department's
seal, a route's countersignature) reaches the very objects built here; they die with the
runtime. The server's parent creates the CA hierarchy before it forks its workers
(:func:`idp.serve.set_up_node`), so they find it ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from config.runtime import Runtime
from idp.provider import Provider

if TYPE_CHECKING:
    from biometrics.service import FaceService
    from certs.authority import Authority
    from certs.ocsp import Responder
    from certs.tsa import TimeStampAuthority
    from signing.authority import CaAuthority
    from signing.engine import Engine


@dataclass(frozen=True)
class Components:
    """What the blueprints, the console, the CLI and the node's parent share.

    Every object but the provider is reached on first use (and its package imported
    then): a command that lists users loads neither the CA, nor pyHanko, nor numpy.
    """

    runtime: Runtime
    provider: Provider

    @property
    def authority(self) -> Authority:
        """The certificate authority (its hierarchy is read, or created, on first use)."""
        from certs.authority import authority

        return authority(self.runtime)

    @property
    def responder(self) -> Responder:
        """The OCSP responder of :attr:`authority`."""
        from certs.ocsp import responder

        return responder(self.authority)

    @property
    def tsa(self) -> TimeStampAuthority:
        """The time-stamp authority of :attr:`authority`."""
        from certs.tsa import time_stamp_authority

        return time_stamp_authority(self.authority)

    @property
    def signing_ca(self) -> CaAuthority:
        """Signing's view of :attr:`authority`."""
        from signing.authority import ca_authority

        return ca_authority(self.runtime)

    @property
    def signing_engine(self) -> Engine:
        """The PAdES signing engine over :attr:`signing_ca`."""
        from signing.service import engine

        return engine(self.runtime)

    @property
    def faces(self) -> FaceService:
        """The face service (its work runs in the process's shared face pool)."""
        from biometrics.service import face_service

        return face_service(self.runtime)


def build(runtime: Runtime) -> Components:
    """The long-lived objects of ``runtime``'s process. Cheap: nothing here opens a
    connection or reads a key; each object does so when first used."""
    return Components(runtime=runtime, provider=Provider(runtime))
