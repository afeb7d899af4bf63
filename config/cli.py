"""What every ``onetrip`` command group shares: the runtime, JSON output, one-line errors,
and the lazy loading that lets a command import only what it runs.

A command refuses by raising :class:`CliError`, or lets a service's
:class:`config.errors.Refusal` through: the root group prints either as one line on stderr
and exits non-zero.

Nothing here imports the runtime (SQLAlchemy, Redis, the audit log) at import time: a
command gets it through :func:`pass_runtime` when it runs, and ``--help`` never builds it.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from config.errors import Refusal

if TYPE_CHECKING:
    from config.runtime import Runtime


class CliError(click.ClickException):
    """A caller's mistake or a refused action: one line on stderr and exit code 1 (or given)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"onetrip: {self.format_message()}", err=True)


def runtime_of(ctx: click.Context) -> Runtime:
    """The command line's one runtime, built from the settings on first use and kept on the
    root context; a first ``serve`` creates the data directory."""
    from config.runtime import Runtime
    from config.settings import load_settings

    root = ctx.find_root()
    if not isinstance(root.obj, Runtime):
        root.obj = Runtime(load_settings(create=root.invoked_subcommand == "serve"))
    return root.obj


def pass_runtime(func: Callable) -> Callable:
    """Pass the command the runtime as its first argument (see :func:`runtime_of`)."""

    @functools.wraps(func)
    def with_runtime(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        return ctx.invoke(func, runtime_of(ctx), *args, **kwargs)

    return with_runtime


def ensure_schema(runtime: Runtime) -> Runtime:
    """The runtime, once its schema is at this code's revisions: a fresh database gets
    its schema (a first command may come before the first ``serve``); one at other
    revisions is refused in one line, for ``onetrip migrate`` to settle on purpose. One
    query when all is well (see :mod:`config.migrate`)."""
    from config.migrate import SchemaState, known_heads, schema_state, stored_heads

    state = schema_state(runtime.db)
    if state is SchemaState.FRESH:
        runtime.migrate()
    elif state is SchemaState.DIFFERENT:
        stored = ", ".join(sorted(stored_heads(runtime.db) or ()))
        raise CliError(
            f"the database schema ({stored}) is not this version's "
            f"({', '.join(sorted(known_heads()))}): run `onetrip migrate` first"
        )
    return runtime


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's lazy loading pattern).

    ``lazy`` maps each name to ``("module:attr", help)``, ``help`` being the command's own
    first sentence, which ``--help`` shortens as click would: it lists every command
    without importing any. ``attr`` names a click command, or a function of no arguments
    that returns one (for a command composed of several packages' parts).
    """

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a service's refusal that reaches here becomes a :class:`CliError`."""
        try:
            return super().invoke(ctx)
        except Refusal as refused:
            raise CliError(refused.description) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module, _, attr = self.lazy[cmd_name][0].partition(":")
        found = getattr(importlib.import_module(module), attr)
        command = found if isinstance(found, click.Command) else found()
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The usual listing, with the table's short help for commands not yet imported."""
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                command = self.commands[name]
                if not command.hidden:
                    rows.append((name, command.get_short_help_str(limit)))
            else:
                rows.append((name, click.utils.make_default_short_help(self.lazy[name][1], limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def json_option(func):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    """Print ``data`` as JSON, or ``text`` (default: a readable rendering of ``data``)."""
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    elif text is not None:
        click.echo(text)
    elif isinstance(data, list):
        for row in data:
            click.echo("  ".join(f"{v}" for v in row.values()) if isinstance(row, dict) else row)
    elif isinstance(data, dict):
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            click.echo(f"{key.ljust(width)}  {value}")
    else:
        click.echo(data)


def read_secret_from_stdin(prompt: str) -> str:
    """Read a password: prompted twice on a terminal, one line from a pipe."""
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")
