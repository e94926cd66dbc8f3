"""The quick start's Celery broker (kombu's filesystem transport) keeps every
file under var/, wherever the process was started from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PUBLISH = """
import django
django.setup()
from django.conf import settings
from hl7_interface.tasks import hl7_outbound_sweep_task
assert settings.CELERY_BROKER_URL.startswith("filesystem://"), settings.CELERY_BROKER_URL
hl7_outbound_sweep_task.delay()
"""


def test_a_task_queued_without_redis_lands_in_var_and_nowhere_else(tmp_path: Path) -> None:
    var, cwd = tmp_path / "var", tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")}
    env |= {"MWL_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "mwl_ris.settings", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", PUBLISH], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert list(cwd.iterdir()) == []  # kombu's default ./control folder is not used
    assert len(list((var / "celery" / "queue").iterdir())) == 1
    assert (var / "celery" / "control").is_dir()
