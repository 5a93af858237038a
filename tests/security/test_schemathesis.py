"""schemathesis against /openapi.json of a real server: no 5xx, no answer that breaks the schema."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.server import ROOT, ServerProcess, headers_for

MAX_EXAMPLES = 12
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
        "ignored_auth",
    ]
)


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("schemathesis is not installed: pip install -e '.[dev]'")
    return found


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_break(tmp_path: Path) -> None:
    binary = _schemathesis()
    headers = headers_for("u_fuzz", "t_fuzz")
    with ServerProcess("memory://", tmp_path / "server.log") as server:
        command = [
            binary,
            "--config-file",
            str(ROOT / "scripts" / "schemathesis.toml"),
            "run",
            f"{server.base_url}/openapi.json",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--checks",
            CHECKS,
            "--suppress-health-check",
            "filter_too_much,too_slow",
            "--request-timeout",
            "2",
            "--seed",
            "1",
            "--no-color",
            *(part for name, value in headers.items() for part in ("-H", f"{name}: {value}")),
        ]
        done = subprocess.run(
            command,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        log = server.log_text()
        alive = server.process is not None and server.process.poll() is None
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert alive, log[-3000:]
    assert "unhandled error in request" not in log, log[-3000:]
