"""The quick start runs on SQLite, which has no exclusion constraints: there
the booking check runs inside an IMMEDIATE (write-locked) transaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_concurrent_bookings_on_the_sqlite_quick_start_give_one_winner(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'race.sqlite3'}", "MWL_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "tests.scheduling.sqlite_race", "10"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["outcomes"] == ["booked"] + ["conflict"] * 9
    assert report["active"] == 1
