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


# --- installation without Docker (deploy/) ------------------------------------------------------


def install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "deploy" / "install.sh"), *args], capture_output=True, text=True, check=False, timeout=60
    )


def test_the_installer_writes_units_env_and_site_into_a_scratch_root(tmp_path: Path) -> None:
    done = install("--root", str(tmp_path), "--prefix", str(ROOT), "--server-name", "ris.example.test")
    assert done.returncode == 0, done.stderr
    units = sorted(p.name for p in (tmp_path / "etc/systemd/system").iterdir())
    assert units == [
        "mwl-ris-backup.service",
        "mwl-ris-backup.timer",
        "mwl-ris-beat.service",
        "mwl-ris-gateway.service",
        "mwl-ris-hl7.service",
        "mwl-ris-web.service",
        "mwl-ris-worker.service",
        "mwl-ris.target",
    ]
    for unit in (tmp_path / "etc/systemd/system").iterdir():
        text = unit.read_text()
        assert "@PREFIX@" not in text
        assert "@SERVER_NAME@" not in text
    env_file = tmp_path / "etc/mwl-ris/mwl-ris.env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o640"
    settings = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line and line[0] != "#")
    assert len(settings["DJANGO_SECRET_KEY"]) >= 50
    assert settings["DJANGO_ALLOWED_HOSTS"].startswith("ris.example.test,")
    assert "server_name ris.example.test;" in (tmp_path / "etc/nginx/sites-available/mwl-ris").read_text()
    assert len((tmp_path / "etc/mwl-ris/audit-hmac.key").read_text().strip()) == 64
    # the commands that would change the system are listed, not run; the database password never shows
    password = settings["DATABASE_URL"].split(":")[2].split("@")[0]
    assert "+ systemctl enable --now mwl-ris.target" in done.stdout
    assert password not in done.stdout
    # a second run (an upgrade) keeps the secrets
    again = install("--root", str(tmp_path), "--prefix", str(ROOT))
    assert again.returncode == 0, again.stderr
    assert "keeping /etc/mwl-ris/mwl-ris.env" in again.stdout
    assert env_file.read_text().count(settings["DJANGO_SECRET_KEY"]) == 1


def test_the_installers_dry_run_changes_nothing(tmp_path: Path) -> None:
    done = install("--dry-run", "--root", str(tmp_path), "--prefix", str(ROOT))
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []
    assert "+ write /etc/mwl-ris/mwl-ris.env (mode 0640)" in done.stdout
    assert "+ write /etc/systemd/system/mwl-ris-gateway.service (mode 0644)" in done.stdout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    assert install("--root", str(tmp_path), "--prefix", str(ROOT)).returncode == 0
    units = sorted(str(p) for p in (tmp_path / "etc/systemd/system").iterdir())
    done = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    # the check can fail: a unit whose program is not there
    broken = tmp_path / "etc/systemd/system/mwl-ris-web.service"
    broken.write_text(broken.read_text().replace(".venv/bin/gunicorn", ".venv/bin/no-such-gunicorn"))
    done = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "no-such-gunicorn" in done.stderr


def test_compose_checks_the_gateway_and_hl7_health() -> None:
    import yaml

    services = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))["services"]
    assert services["gateway"]["healthcheck"]["test"] == ["CMD", "python", "manage.py", "ris_probe", "dicom"]
    assert services["hl7"]["healthcheck"]["test"] == ["CMD", "python", "manage.py", "ris_probe", "hl7"]


def test_the_installer_sets_up_an_edge_node_with_its_units_only(tmp_path: Path) -> None:
    done = install("--root", str(tmp_path), "--prefix", str(ROOT), "--edge", "kib", "--central", "10.8.0.1")
    assert done.returncode == 0, done.stderr
    units = sorted(p.name for p in (tmp_path / "etc/systemd/system").iterdir())
    assert units == ["mwl-ris-edge-forward.service", "mwl-ris-edge.target", "mwl-ris-gateway.service"]
    env_file = (tmp_path / "etc/mwl-ris/mwl-ris.env").read_text()
    settings = dict(line.split("=", 1) for line in env_file.splitlines() if "=" in line and line[0] != "#")
    assert (settings["RIS_ROLE"], settings["RIS_SITE"], settings["EDGE_CENTRAL_HOST"]) == ("edge", "KIB", "10.8.0.1")
    assert settings["EDGE_AE_TITLE"] == "EDGE_KIB"
    assert "+ systemctl enable mwl-ris-edge.target" in done.stdout
    assert "nginx" not in done.stdout  # no web app at an edge
    assert "edge_setup subscribe" in done.stdout
    refused = install("--root", str(tmp_path / "x"), "--prefix", str(ROOT), "--edge", "KIB")
    assert refused.returncode == 2
    assert "--edge needs --central" in refused.stderr
