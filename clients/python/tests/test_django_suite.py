"""Django's own session-engine tests (``SessionTestsMixin``) pass against our
engine, as they pass against Django's cache engine: see ``django_suite.py``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import Daemon


def test_djangos_own_session_engine_tests_pass(daemon: Daemon) -> None:
    tests_dir = os.environ.get("DJANGO_TESTS_DIR")
    assert tests_dir and (Path(tests_dir) / "sessions_tests" / "tests.py").is_file(), (
        "DJANGO_TESTS_DIR must name the tests/ folder of Django's sdist "
        "(scripts/test.sh fetches it for the installed Django)"
    )
    env = dict(os.environ, SESSIOND_URL=daemon.url)
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("django_suite.py"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    summary = re.search(r"^(\d+) passed, 0 failed$", proc.stdout, re.M)
    assert summary, report
    # Django 5.2's mixin has 65 tests (sync and async); more is a newer Django.
    assert int(summary.group(1)) >= 65, report
