"""Swahili is complete: every translatable string of the code and templates has
a reviewed translation, and the compiled catalogue matches the source."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

PO = Path(settings.BASE_DIR) / "locale" / "sw" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
IGNORE = [".venv", "bench", "tests", "var", "node_modules"]


def msgfmt_statistics(po: Path, output: Path) -> str:
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", str(output), str(po)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stderr


def test_the_committed_catalogue_is_complete_and_compiled(tmp_path: Path) -> None:
    stats = msgfmt_statistics(PO, tmp_path / "django.mo")
    assert "untranslated" not in stats, stats
    assert "fuzzy" not in stats, stats
    assert (tmp_path / "django.mo").read_bytes() == MO.read_bytes(), (
        "run: msgfmt -o locale/sw/.../django.mo (or compilemessages)"
    )


def test_every_string_in_the_code_is_in_the_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Extract the strings afresh (as makemessages does) in a copy of the
    project: nothing new may be left untranslated, nothing changed fuzzy."""
    source = tmp_path / "src"
    shutil.copytree(settings.BASE_DIR, source, ignore=shutil.ignore_patterns(*IGNORE, ".git", "docs", "__pycache__"))
    monkeypatch.chdir(source)
    with override_settings(LOCALE_PATHS=[source / "locale"]):
        call_command("makemessages", locale=["sw"], ignore_patterns=IGNORE, no_location=True, verbosity=0)
    fresh = source / "locale" / "sw" / "LC_MESSAGES" / "django.po"
    assert "Why isn't the patient on the scanner?" in fresh.read_text()  # it did extract the templates
    stats = msgfmt_statistics(fresh, tmp_path / "fresh.mo")
    assert "untranslated" not in stats, stats
    assert "fuzzy" not in stats, stats
