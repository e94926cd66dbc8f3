"""WSGI entry point (gunicorn mwl_ris.wsgi)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mwl_ris.settings")
application = get_wsgi_application()

from django.conf import settings  # noqa: E402 - after Django is set up

from mwl_ris.lib.db import set_statement_timeout  # noqa: E402

set_statement_timeout(settings.WEB_DB_STATEMENT_TIMEOUT_MS)
