"""What the Python benchmarks share: a free port and a fresh, migrated
PostgreSQL database that Django in this process then uses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_database(name: str) -> str:
    """Drop and create ``name``, point Django at it, migrate; returns its URL."""
    url = f"{PG}/{name}"
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mwl_ris.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnop")
    drop_database(name)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def drop_database(name: str) -> None:
    subprocess.run(["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", name], check=False)
