"""Django's own session-engine tests (``SessionTestsMixin``) pass against our
engine, as they pass against Django's cache engine, with the near cache off
and on: see ``django_suite.py``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Daemon


@pytest.mark.parametrize("near_cache", ["", "strict"], ids=["server", "near_cache_strict"])
def test_djangos_own_session_engine_tests_pass(daemon: Daemon, near_cache: str) -> None:
    tests_dir = os.environ.get("DJANGO_TESTS_DIR")
    assert tests_dir and (Path(tests_dir) / "sessions_tests" / "tests.py").is_file(), (
        "DJANGO_TESTS_DIR must name the tests/ folder of Django's sdist "
        "(scripts/test.sh fetches it for the installed Django)"
    )
    env = dict(os.environ, SESSIOND_URL=daemon.url, SESSIOND_NEAR_CACHE=near_cache)
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
    if near_cache:
        # The loads went through it (Django's tests rarely load a session twice).
        used = re.search(r"^near cache registered: (\d+) hits, (\d+) misses$", proc.stdout, re.M)
        assert used and int(used.group(1)) + int(used.group(2)) > 0, report
