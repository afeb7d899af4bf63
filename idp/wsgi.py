"""WSGI entry point: ``idp.wsgi:create_wsgi_app`` builds the app in each worker process."""

from flask import Flask


def create_wsgi_app() -> Flask:
    from config.logs import configure
    from config.runtime import Runtime
    from idp.app import create_app

    runtime = Runtime()
    configure(runtime.settings.log_format)
    return create_app(runtime)
