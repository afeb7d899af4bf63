"""The console's front page: is the node well (what ``/readyz`` checks) and what it did in
the last 24 hours; and the step-up page that asks for a fresh second factor."""

from __future__ import annotations

from flask import render_template, request, url_for

from idp.console.charts import bars
from idp.console.gate import console, console_blueprint, operator, provider, requires
from idp.i18n import translate
from idp.login_steps import safe_next
from idp.ops import readiness

bp = console_blueprint("console", __name__, "/admin")

CHARTS = (
    ("sign_ins", "Sign-ins"),
    ("token_grants", "Token grants"),
    ("signatures", "Signatures"),
    ("ocsp_answers", "OCSP answers"),
    ("failures", "Failures"),
)


@bp.get("/")
@requires("overview.read")
def home():
    p = provider()
    series = console().activity.last_day()
    charts = []
    for key, label in CHARTS:
        values = series[key]
        total = sum(count for _, count in values)
        peak = max(count for _, count in values)
        summary = translate(
            "{total} in 24 hours, at most {peak} in an hour", total=total, peak=peak
        )
        charts.append(
            {
                "label": translate(label),
                "total": total,
                "svg": bars(values, translate(label), summary),
                "summary": summary,
            }
        )
    checks = readiness(p.runtime, p)
    return render_template("console/overview.html", checks=checks, charts=charts)


@bp.get("/step-up")
def step_up():
    op = operator()
    p = provider()
    target = safe_next(request.args.get("next")) or url_for("console.home")
    return render_template(
        "console/step_up.html",
        next=target,
        has_totp=p.authenticators.enrolled(op.user_id),
        totp_for_operators=p.authenticators.for_operators(op.user_id),
        has_face=console().faces.has_template(op.user_id),
        max_minutes=max(1, p.settings.console_step_up_max_age // 60),
    )
