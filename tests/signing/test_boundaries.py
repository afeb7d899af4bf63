"""Dependencies point one way: ``signing`` on ``certs`` on ``config``, never on ``idp``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imported(package: str) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


def test_signing_and_certs_never_import_the_identity_provider():
    assert "idp" not in _imported("signing")
    assert not {"idp", "signing", "biometrics"} & _imported("certs")
    code = (
        "import sys, signing.web, signing.service, signing.routes, signing.departments, "
        "signing.cli, signing.csc, certs.web, certs.est, certs.cli\n"
        "print(sorted(m for m in sys.modules if m == 'idp' or m.startswith('idp.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert loaded.stdout.strip() == "[]", loaded.stderr
