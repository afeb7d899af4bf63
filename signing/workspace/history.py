"""History: what my department signed, approved and rejected, searchable, linked to /verify."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from signing import desk
from signing.workspace.gate import Workspace, department, page_number


def add_views(bp: Blueprint, ws: Workspace) -> None:
    @bp.get("/<code>/history")
    def history(code: str):
        dept = department(code)
        q = request.args.get("q", "")[:100]
        page = desk.history(ws.runtime, dept["id"], q, page_number())
        return render_template("workspace/history.html", dept=dept, page=page, q=q)
