"""The Django engine: login, read, logout through Django's test client, and
the helpers that list and revoke a user's sessions."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

import django  # noqa: E402

from django.conf import settings  # noqa: E402

from conftest import Daemon  # noqa: E402


@pytest.fixture(scope="module")
def dj(daemon: Daemon) -> Iterator[Any]:
    if not settings.configured:
        settings.configure(
            DEBUG=True,
            SECRET_KEY="test-secret",
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=__name__,
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            MIDDLEWARE=[
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
            ],
            SESSION_ENGINE="sessiond.contrib.django",
            SESSIOND_URL=daemon.url,
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
            USE_TZ=True,
        )
        django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, run_syncdb=True)
    from sessiond.contrib import django as engine

    engine.reset_client()
    yield engine
    engine.reset_client()


# --- the tiny project's views ----------------------------------------------

from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


def login_view(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import authenticate, login

    request.session["cart"] = ["apple"]  # set before login: must survive it
    user = authenticate(request, username=request.POST["u"], password=request.POST["p"])
    if user is None:
        return HttpResponse(status=403)
    login(request, user)
    return HttpResponse("ok")


def read_view(request: HttpRequest) -> HttpResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JsonResponse(
        {
            "user": request.user.username if request.user.is_authenticated else None,
            "cart": request.session.get("cart"),
            "visits": request.session["visits"],
        }
    )


def logout_view(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import logout

    logout(request)
    return HttpResponse("bye")


urlpatterns = [path("login", login_view), path("read", read_view), path("logout", logout_view)]


def test_login_read_logout(dj: Any) -> None:
    from django.contrib.auth.models import User
    from django.test import Client as DjangoClient

    import sessiond

    user = User.objects.create_user("alice", password="pw")
    web = DjangoClient()
    assert web.post("/login", {"u": "alice", "p": "wrong"}).status_code == 403
    anon_key = web.cookies["sessionid"].value
    assert web.post("/login", {"u": "alice", "p": "pw"}).status_code == 200
    key = web.cookies["sessionid"].value
    assert len(key) == 22 and key != anon_key
    raw = dj.get_client().get(key)
    assert raw.owner == str(user.pk).encode()
    with pytest.raises(sessiond.NotFound):
        dj.get_client().get(anon_key)  # the pre-login session is gone

    r1 = web.get("/read").json()
    r2 = web.get("/read").json()
    assert r1 == {"user": "alice", "cart": ["apple"], "visits": 1}
    assert r2["visits"] == 2
    assert [s.id for s in dj.user_sessions(user.pk)] == [key]

    # a second device, then "log out other devices"
    other = DjangoClient()
    other.post("/login", {"u": "alice", "p": "pw"})
    other_key = other.cookies["sessionid"].value
    assert {s.id for s in dj.user_sessions(user.pk)} == {key, other_key}
    assert dj.logout_everywhere(user.pk, keep=key) == 1
    assert other.get("/read").json()["user"] is None
    assert web.get("/read").json()["user"] == "alice"

    # revoke one session by key
    third = DjangoClient()
    third.post("/login", {"u": "alice", "p": "pw"})
    assert dj.revoke(third.cookies["sessionid"].value) is True
    assert third.get("/read").json()["user"] is None

    assert web.get("/logout").status_code == 200
    assert web.get("/read").json()["user"] is None
    with pytest.raises(sessiond.NotFound):
        dj.get_client().get(key)
    assert [s.id for s in dj.user_sessions(user.pk)] == []


def test_store_api(dj: Any) -> None:
    s = dj.SessionStore()
    s["a"] = 1
    s.save()
    key = s.session_key
    assert s.exists(key) and not s.exists("not-a-valid-id")
    again = dj.SessionStore(key)
    assert again["a"] == 1
    again["a"] = 2
    again.save()
    assert dj.SessionStore(key)["a"] == 2
    again.delete()
    assert not s.exists(key)
    assert dj.SessionStore(key).load() == {}
    assert dj.SessionStore("garbage").load() == {}
    dj.SessionStore.clear_expired()


def test_each_anonymous_session_has_an_owner_of_its_own(dj: Any) -> None:
    first, second = dj.SessionStore(), dj.SessionStore()
    for s in (first, second):
        s["cart"] = ["apple"]
        s.save()
    owners = {dj.get_client().get(s.session_key).owner for s in (first, second)}
    assert owners == {f"anonymous:{s.session_key}".encode() for s in (first, second)}
    assert dj.get_client().count(f"anonymous:{first.session_key}") == 1
    for s in (first, second):
        s.delete()


def test_anonymous_visitors_do_not_evict_each_other_under_an_owner_limit(make_daemon: Any) -> None:
    from django.test import override_settings

    limited = make_daemon(args=["--max-sessions-per-owner", "1", "--owner-limit-policy", "reject"])
    from sessiond.contrib import django as engine

    with override_settings(SESSIOND_URL=limited.url):
        engine.reset_client()
        try:
            visitors = [engine.SessionStore() for _ in range(3)]
            for v in visitors:
                v["seen"] = True
                v.save()
            assert all(engine.SessionStore(v.session_key).get("seen") for v in visitors)
        finally:
            engine.reset_client()


def test_the_expiry_a_save_asks_for_is_the_servers(dj: Any) -> None:
    from datetime import timedelta

    s = dj.SessionStore()
    s["a"] = 1
    s.save()
    key = s.session_key
    assert dj.get_client().get(key).info.idle_secs == 1209600  # SESSION_COOKIE_AGE

    s.set_expiry(300)  # five minutes of inactivity
    s.save()
    info = dj.get_client().get(key).info
    assert (s.session_key, info.idle_secs, info.absolute_deadline) == (key, 300, None)

    s.set_expiry(timedelta(hours=1))  # an expiry date: a fixed deadline
    s.save()
    info = dj.get_client().get(key).info
    assert info.idle_secs == 0 and info.absolute_deadline is not None
    assert abs(info.absolute_deadline - (info.created + 3600)) <= 2
    assert dj.SessionStore(key)["a"] == 1

    s.set_expiry(-10)  # in the past: the save ends the session
    s.save()
    assert not s.exists(key)
