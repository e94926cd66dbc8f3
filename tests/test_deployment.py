"""The deployment files a hospital IT team uses must be valid."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed (.ci/run installs it)")
def test_compose_yaml_parses_and_runs_the_documented_services() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "POSTGRES_"))}
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "compose.yaml"), "config", "--services"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert {"postgres", "redis", "migrate", "web", "gateway", "hl7", "worker", "beat"} <= set(result.stdout.split())


def test_compose_yaml_follows_the_compose_specification() -> None:
    """What `docker compose config` (v2) checks: the file against the Compose Specification schema."""
    import jsonschema
    import yaml

    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text(encoding="utf-8"))
    document = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    assert [e.message for e in validator.iter_errors(document)] == []
    misspelt = {
        **document,
        "services": {**document["services"], "web": {**document["services"]["web"], "restrat": "x"}},
    }
    assert list(validator.iter_errors(misspelt))  # the check can fail


def test_readme_opens_with_exactly_the_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    head = readme.split("\n## ", 1)[0]
    commands = [line for line in head.splitlines() if line.startswith("./scripts/")]
    assert commands == ["./scripts/start", "./scripts/test"]
    for command in commands:
        assert os.access(ROOT / command, os.X_OK)


def test_ci_runs_the_readme_test_command() -> None:
    assert "exec scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_api_schema_file_in_docs_is_current(tmp_path: Path) -> None:
    """docs/openapi.json is what integrators read offline; it must match the code."""
    out = tmp_path / "schema.json"
    # integer ranges in the schema follow the database backend: compare with the default (SQLite)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["MWL_VAR_DIR"] = str(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--format", "openapi-json", "--file", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env=env,
    )
    assert json.loads(out.read_text()) == json.loads((ROOT / "docs" / "openapi.json").read_text()), (
        "regenerate with: .venv/bin/python manage.py spectacular --format openapi-json --file docs/openapi.json"
    )
