"""The deployment kit in deploy/: the native stack's smoke test (deploy/local.sh smoke), and
static checks of what cannot run here (no Docker daemon, no systemd as init): .env.example
names every setting, the compose file is well formed, the image runs unprivileged with a
health check, the systemd units are valid and hardened."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loantrace.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SMOKE_SECONDS = 600


def _env_example_entries() -> dict[str, str]:
    """Return each LOANTRACE_ variable `.env.example` names, with the value it shows."""
    entries = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        found = re.match(r"^#?\s*(LOANTRACE_[A-Z0-9_]+)=(.*)$", line)
        if found:
            entries[found.group(1)] = found.group(2)
    return entries


def test_env_example_names_every_setting_and_no_other() -> None:
    named = _env_example_entries()
    settings = {f"LOANTRACE_{name.upper()}" for name in Settings.model_fields}
    missing = sorted(settings - set(named))
    unknown = sorted(set(named) - settings)
    fix = "regenerate it: .venv/bin/python deploy/env_example.py > .env.example"
    assert not missing, f".env.example lacks {missing}; {fix}"
    assert not unknown, f".env.example names settings that do not exist: {unknown}; {fix}"


def test_env_example_shows_each_setting_default() -> None:
    sys.path.insert(0, str(DEPLOY))
    try:
        from env_example import render_default  # deploy/env_example.py
    finally:
        sys.path.remove(str(DEPLOY))
    named = _env_example_entries()
    stale = {
        variable: (named[variable], render_default(name, field))
        for name, field in Settings.model_fields.items()
        if named.get(variable := f"LOANTRACE_{name.upper()}") != render_default(name, field)
    }
    assert not stale, f".env.example shows stale defaults (shown, actual): {stale}"


def _compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def test_compose_file_parses_and_wires_every_service() -> None:
    compose = _compose()
    services: dict[str, dict[str, Any]] = compose["services"]
    assert {"postgres", "anvil", "deploy", "migrate", "api", "indexer", "keeper"} <= set(services)
    assert services["anvil"]["profiles"] == ["local-chain"]
    for name, service in services.items():
        for needed, rule in (service.get("depends_on") or {}).items():
            assert needed in services, f"{name} depends on unknown service {needed}"
            if rule["condition"] == "service_healthy":
                check = services[needed].get("healthcheck", {})
                unchecked = f"{name} waits for {needed} to be healthy: it has no health check"
                assert check.get("test"), unchecked
                assert not check.get("disable"), unchecked
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], f"{name} uses undefined secret {secret}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], f"{name} mounts undefined volume {source}"
    for name in ("api", "indexer", "keeper", "migrate"):
        assert services[name]["depends_on"]["migrate" if name != "migrate" else "deploy"][
            "condition"
        ] == ("service_completed_successfully")
    assert services["migrate"]["command"] == ["index", "--once"]
    assert services["indexer"]["command"] == ["index"]
    assert services["keeper"]["command"] == ["keeper"]
    assert services["api"]["command"][0] == "serve"
    assert services["api"]["deploy"]["replicas"] >= 2
    environment = services["api"]["environment"]
    assert environment["LOANTRACE_MODE"] == "prod"
    assert environment["LOANTRACE_KEYSTORE_PASSWORD_FILE"].startswith("/run/secrets/")
    assert services["api"]["env_file"] == "../.env"


def _stages(dockerfile: str) -> list[list[str]]:
    """Return each build stage's instructions (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    stages: list[list[str]] = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(stripped)
    return stages


def test_dockerfile_is_multi_stage_unprivileged_and_checks_health() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = _stages(text)
    assert len(stages) >= 2, "a builder stage and a runtime stage"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    runtime = stages[-1]
    users = [line.split()[1] for line in runtime if line.upper().startswith("USER ")]
    assert users, "the runtime stage sets a USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    health = [line for line in runtime if line.upper().startswith("HEALTHCHECK ")]
    assert health, "the runtime stage has a HEALTHCHECK"
    assert "/healthz" in health[0]
    assert 'ENTRYPOINT ["loantrace"]' in runtime
    assert 'CMD ["serve", "--host", "0.0.0.0"]' in runtime
    installs = " ".join(line for line in runtime if line.upper().startswith("RUN "))
    for compiler in ("build-essential", "gcc", "apt-get install"):
        assert compiler not in installs, f"the runtime stage installs {compiler}"
    assert "--no-index" in installs, "the runtime installs the builder's wheels only"


UNITS = ("loantrace-api@.service", "loantrace-indexer.service", "loantrace-keeper.service")


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_unit_is_hardened(unit: str) -> None:
    text = (DEPLOY / "systemd" / unit).read_text()
    for setting in (
        "EnvironmentFile=/etc/loantrace/loantrace.env",
        "User=loantrace",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=loantrace",
        "CapabilityBoundingSet=\n",
    ):
        assert setting in text, f"{unit} lacks {setting.strip()}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_units_verify(tmp_path: Path) -> None:
    loantrace = Path(sys.executable).with_name("loantrace")
    names = []
    units = [
        *sorted((DEPLOY / "systemd").glob("*.service")),
        DEPLOY / "systemd" / "loantrace.target",
    ]
    for source in units:
        text = source.read_text().replace("/opt/loantrace/bin/loantrace", str(loantrace))
        (tmp_path / source.name).write_text(text)
        names.append(source.name.replace("@.service", "@8000.service"))
    (tmp_path / "loantrace-api@8000.service").symlink_to(tmp_path / "loantrace-api@.service")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "loantrace" in line and "network-online.target" not in line
    ]
    assert result.returncode == 0, result.stdout + result.stderr
    assert not problems, problems


def _stop_session(process: subprocess.Popen[str]) -> None:
    """Stop the smoke script and everything it started in its session."""
    if process.poll() is None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=30)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue


def _purge(state: Path, env: dict[str, str]) -> None:
    """Stop whatever the stack still runs, drop its database, remove its state."""
    if state.exists():
        subprocess.run(
            ["bash", str(DEPLOY / "local.sh"), "purge"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
    for pid_file in state.glob("pids/*.pid"):  # if purge itself failed
        with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.anvil
@pytest.mark.postgres
@pytest.mark.timeout(SMOKE_SECONDS + 120)
def test_local_stack_smoke_passes(tmp_path: Path) -> None:
    """deploy/local.sh smoke: deploy, serve, a loan's life, reminders, tracing, backup and
    restore, a restart of everything, and the same answers afterwards."""
    state = tmp_path / "stack"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOANTRACE_")}
    env |= {"STACK_DIR": str(state), "STACK_BIN": str(Path(sys.executable).parent)}
    process = subprocess.Popen(
        ["bash", str(DEPLOY / "local.sh"), "smoke"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=SMOKE_SECONDS)
    except subprocess.TimeoutExpired:
        _stop_session(process)
        output, _ = process.communicate()
        pytest.fail(f"smoke took over {SMOKE_SECONDS}s:\n{output[-6000:]}")
    finally:
        _stop_session(process)
        _purge(state, env)
    assert process.returncode == 0, output[-8000:]
    assert "SMOKE PASSED" in output
    assert not state.exists(), "the smoke removes its state (and drops its database)"
