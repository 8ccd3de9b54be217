"""Schemathesis against the running service: every operation, generated requests, no 5xx.

Two uvicorn workers share sessions through a private Redis, with the default policy and
the shipped model: the set-up of a real deployment. ``benchmarks/serve.py`` runs the same
with at least 1,000 requests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.serve.servers import private_redis, running_service
from tests.serve.test_app import write_policy

#: Every check but one: schemathesis's coverage phase cannot build a body that satisfies
#: the turn's "text, intent or event" ``anyOf`` and sends ``0`` as a "valid" body, which the
#: service rightly refuses; the fuzzing and stateful phases do build valid bodies.
CHECKS = ["--checks", "all", "--exclude-checks", "positive_data_acceptance"]


def schemathesis(url: str, examples: int, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}/openapi.json",
        *CHECKS,
        "--max-examples",
        str(examples),
        "--seed",
        "20260505",
        "--workers",
        "1",
        "--suppress-health-check",
        "all",
        *extra,
    ]
    with tempfile.TemporaryDirectory() as where:  # its cache stays out of the project
        return subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=where)


def generated(output: str) -> int:
    found = re.search(r"(\d[\d,]*) generated", output)
    assert found, output[-3000:]
    return int(found.group(1).replace(",", ""))


def test_schemathesis_finds_no_failure_and_no_server_error(tmp_path: Path) -> None:
    with private_redis() as redis_url:
        args = ["--workers", "2", "--sessions", redis_url, "--history", "memory://",
                "--no-access-log"]  # fmt: skip
        with running_service(args) as service:
            result = schemathesis(service.url, 40)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    operations = re.search(r"Operations:\s+(\d+) selected / (\d+) total", output)
    assert operations and operations.group(1) == operations.group(2) == "7", output[-3000:]
    assert generated(output) >= 300  # and not_a_server_error (in "all") held for each


def test_sighup_reloads_the_policy_of_a_running_server(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    write_policy(policy, "before")
    args = ["--policy", str(policy), "--no-affect", "--history", "none", "--watch", "0"]
    with running_service(args) as service:
        assert rules(service.url) == ["before"]
        write_policy(policy, "after-sighup")
        time.sleep(0.3)
        assert rules(service.url) == ["before"]  # no watching: only the signal reloads
        os.kill(service.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while rules(service.url) != ["after-sighup"]:
            assert time.monotonic() < deadline, "SIGHUP did not reload the policy"
            time.sleep(0.1)


def rules(url: str) -> list[str]:
    with urllib.request.urlopen(f"{url}/v1/policy", timeout=5) as reply:
        found: list[str] = json.load(reply)["rules"]
        return found
