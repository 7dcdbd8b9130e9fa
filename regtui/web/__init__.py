"""The learner-facing web pages: claim links from invitation emails and set-password links.

``create_app(db_url)`` builds the Flask app; ``serve(host, port, db_url)`` runs it with
waitress (what ``regtui serve`` calls).
"""

from regtui.web.app import create_app, serve

__all__ = ["create_app", "serve"]
