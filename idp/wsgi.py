"""WSGI entry point: ``idp.wsgi:create_wsgi_app`` builds the app in each worker process."""

from flask import Flask


def create_wsgi_app() -> Flask:
    from idp.app import create_app

    return create_app()
