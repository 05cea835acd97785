"""The workspace (DESIGN §15): server-rendered pages for people under /app/, beside the API.

The pages call the same ledger application and read side the API does (never the API over
loopback), under the same roles and ownership rules. One blueprint holds every page; each
role's pages live in their own module and register their routes on `blp`.
"""

from __future__ import annotations

import flask

blp = flask.Blueprint("workspace", __name__, url_prefix="/app", template_folder="templates",
                      static_folder="static")

from workspace.protection import guard  # noqa: E402

guard(blp)  # the secret, CSRF, security headers and refusal pages of every page

# The page modules register their routes on `blp` when imported (plain imports, no magic).
from workspace import (  # noqa: E402
    auditor_pages,
    dispute_pages,
    manager_pages,
    operator_pages,
    queue_pages,
    report_pages,
    sign_in,
)

PAGE_MODULES = (sign_in, manager_pages, auditor_pages, dispute_pages, queue_pages,
                report_pages, operator_pages)


def register_workspace(app: flask.Flask) -> None:
    """Sessions, CSRF, languages and security headers for /app/, then the pages."""
    from workspace import i18n, navigation, protection, session  # noqa: PLC0415

    session.register_sessions(app)
    app.jinja_env.globals.update(signed_in=session.signed_in, nav_entries=navigation.entries_for)
    protection.register_protection(app)
    i18n.register_languages(app)
    app.register_blueprint(blp)
