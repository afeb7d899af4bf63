"""The ``onetrip`` command: the root group every package mounts its commands under."""

from __future__ import annotations

import sys

import click

from config.cli import CliError
from config.runtime import Runtime
from config.settings import SettingsError


class _Root(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise CliError(str(exc), 2) from None


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="onetrip")
@click.pass_context
def main(ctx: click.Context) -> None:
    """OneTrip: log in once, sign without a visit, connect any service.

    Settings come from ONETRIP_* environment variables (ONETRIP_ISSUER,
    ONETRIP_DATA_DIR, DATABASE_URL, REDIS_URL, ...) and the TOML file named
    by ONETRIP_CONFIG. See the README for the full table.
    """
    ctx.obj = Runtime()


def _mount() -> None:
    from idp.admin_cli import audit, clients, keys, serve, users

    for command in (serve, users, clients, keys, audit):
        main.add_command(command)


_mount()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
