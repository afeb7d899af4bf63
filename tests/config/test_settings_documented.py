"""The README's settings table matches ``config.settings.Settings``, so it cannot drift.

Every field has one row: its name, its environment variable, its default (the literal value
in backticks; a free-text description only where the default is empty, e.g. "generated"),
and a meaning. Rows for settings that no longer exist fail too.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from config.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(
    r"^\|\s*`(?P<name>[a-z0-9_]+)`\s*\|(?P<env>[^|]*)\|(?P<default>[^|]*)\|(?P<meaning>[^|]*)\|\s*$"
)


def _documented() -> dict[str, dict[str, str]]:
    """Rows of the table under the README's ``### Settings`` heading, by setting name."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n### Settings\n", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        if match := ROW.match(line):
            rows[match["name"]] = {k: v.strip() for k, v in match.groupdict().items()}
    return rows


def _expected_row(field: dataclasses.Field) -> str:
    default = f"`{field.default}`" if field.default != "" else "(empty)"
    return f"| `{field.name}` | `ONETRIP_{field.name.upper()}` | {default} | ... |"


def test_every_setting_has_a_row_in_the_readme_settings_table():
    rows = _documented()
    missing = [_expected_row(f) for f in dataclasses.fields(Settings) if f.name not in rows]
    assert not missing, "add these rows to README.md's settings table:\n" + "\n".join(missing)


def test_each_row_names_the_environment_variable_default_and_meaning_of_its_setting():
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    for name, row in _documented().items():
        assert name in fields, f"README documents {name}, which is not a setting"
        assert f"`ONETRIP_{name.upper()}`" in row["env"], row
        default = fields[name].default
        if default == "":
            assert row["default"], f"{name}: say what an empty value means"
        else:
            assert f"`{default}`" in row["default"], f"{name}: default is `{default}`: {row}"
        assert len(row["meaning"]) > 10, f"{name}: say what it is for"
