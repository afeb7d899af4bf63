"""A department's officers, for its department administrators: add an officer by
username, make a member an administrator or an officer again, remove one.

Every member sees who the department's officers are; only a member whose role is
``admin`` may change them (403 otherwise, on the server, for every action). The changes
are :func:`signing.departments.add_member` and :func:`signing.departments.remove_member`,
audited with the administrator's name, as the CLI and the console make them. An
administrator cannot change or remove their own membership, so a department never loses
its last administrator by a slip.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from signing import departments
from signing.departments import ROLES, DepartmentError
from signing.workspace.gate import Workspace, department, officer, refused
from signing.workspace.texts import refusal, translate


def add_views(bp: Blueprint, ws: Workspace) -> None:
    runtime = ws.runtime

    def _page(dept: dict, error: str | None = None, status: int = 200):
        page = render_template(
            "workspace/members.html",
            dept=dept,
            members=departments.members(runtime, dept["code"]),
            roles=ROLES,
            error=error,
            username=request.form.get("username", ""),
        )
        return page, status

    def _admin(code: str) -> dict | None:
        dept = department(code)
        if dept["role"] != "admin":
            return None
        return dept

    @bp.get("/<code>/members")
    def members(code: str):
        return _page(department(code))

    @bp.post("/<code>/members")
    def add_member(code: str):
        dept = _admin(code)
        if dept is None:
            return refused(translate("Only a department administrator may do this."), 403)
        username = request.form.get("username", "").strip().lower()[:64]
        role = request.form.get("role", "officer")
        user_id = ws.host.find_user(username) if username else None
        if user_id is None:
            return _page(dept, translate("There is no account {name}.", name=username), 400)
        if user_id == officer().account.user_id:
            return _page(dept, translate("You cannot change your own membership."), 400)
        try:
            departments.add_member(
                runtime, code, user_id, username, actor=officer().account.username, role=role
            )
        except DepartmentError as exc:
            return _page(dept, refusal(exc), 400)
        flash(translate("{name} is a member, as {role}.", name=username, role=translate(role)))
        return redirect(url_for("workspace.members", code=code))

    @bp.post("/<code>/members/<username>/remove")
    def remove_member(code: str, username: str):
        dept = _admin(code)
        if dept is None:
            return refused(translate("Only a department administrator may do this."), 403)
        if username == officer().account.username:
            return _page(dept, translate("You cannot change your own membership."), 400)
        try:
            departments.remove_member(runtime, code, username, actor=officer().account.username)
        except DepartmentError as exc:
            return _page(dept, refusal(exc), exc.status)
        flash(translate("{name} no longer signs for the department.", name=username))
        return redirect(url_for("workspace.members", code=code))
