"""WSGI entry point: ``idp.wsgi:create_wsgi_app`` builds the app in each worker process."""

from flask import Flask


def create_wsgi_app() -> Flask:
    from config.logs import configure
    from config.runtime import Runtime
    from idp.app import create_app
    from signing.departments import start_renewal

    runtime = Runtime()
    configure(runtime.settings.log_format)
    app = create_app(runtime)
    start_renewal(runtime)  # seals near their end are renewed at start, then hourly
    return app
