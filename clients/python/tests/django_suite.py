"""Django's own session-engine tests against ``sessiond.contrib.django``.

Django tests each of its session engines with ``SessionTestsMixin`` from its
``tests/sessions_tests/tests.py`` (shipped in Django's sdist, not in the
wheel): a ``SimpleTestCase`` that mixes it in and names the engine as
``backend``. This runs the mixin the same way against our engine, in a
process of its own because it configures Django with the mixin's test app.

    DJANGO_TESTS_DIR=<sdist>/tests SESSIOND_URL=sessiond://127.0.0.1:PORT \\
        [SESSIOND_NEAR_CACHE=strict] python django_suite.py

``scripts/test.sh`` fetches the sdist of the installed Django version;
``test_django_suite.py`` runs this against a live daemon. Prints each test
and then ``N passed, N failed`` (and, with the near cache on, its counters); exits non-zero unless every test of the
mixin ran and passed.
"""

from __future__ import annotations

import os
import sys
import unittest

import django
from django.conf import settings


def main() -> int:
    sys.path.insert(0, os.environ["DJANGO_TESTS_DIR"])
    settings.configure(
        SECRET_KEY="django-suite",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "sessions_tests",  # the mixin's module imports its models
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        SESSION_ENGINE="sessiond.contrib.django",
        SESSIOND_URL=os.environ["SESSIOND_URL"],
        # "strict" or "relaxed" runs the mixin with the near cache on.
        SESSIOND_NEAR_CACHE=os.environ.get("SESSIOND_NEAR_CACHE") or None,
        USE_TZ=True,
    )
    django.setup()

    from django.test import SimpleTestCase
    from django.test.utils import setup_test_environment, teardown_test_environment
    from sessions_tests.tests import SessionTestsMixin  # type: ignore[import-not-found]

    from sessiond.contrib.django import SessionStore

    class SessiondSessionTests(SessionTestsMixin, SimpleTestCase):  # type: ignore[misc]
        backend = SessionStore

    expected = sorted(name for name in dir(SessionTestsMixin) if name.startswith("test"))
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(SessiondSessionTests)
    setup_test_environment()
    try:
        result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    finally:
        teardown_test_environment()
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    if settings.SESSIOND_NEAR_CACHE:
        from sessiond.contrib.django import get_client

        stats = get_client().near_cache_stats()
        registered = "registered" if stats.registered else "not registered"
        print(f"near cache {registered}: {stats.hits} hits, {stats.misses} misses")
    if result.testsRun != len(expected) or result.skipped:
        print(f"ran {result.testsRun} of the mixin's {len(expected)} tests, skipped {len(result.skipped)}")
        return 1
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
