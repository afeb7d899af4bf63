"""What every ``onetrip`` command group shares: the runtime, JSON output, one-line errors."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from config.runtime import Runtime


class CliError(click.ClickException):
    """A caller's mistake or a refused action: one line on stderr and exit code 1 (or given)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"onetrip: {self.format_message()}", err=True)


pass_runtime = click.make_pass_decorator(Runtime)


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
