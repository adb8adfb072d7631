"""A Django session engine on sessiond: ``SESSION_ENGINE = "sessiond.contrib.django"``.

The session dict, encoded by Django's serializer, is a sessiond session's
data; the session key is sessiond's 22-character id, chosen here from the
OS CSPRNG (128 bits, as the server would) so that a save can name it, as
Django's own engines do.

The owner is the logged-in user's id (``_auth_user_id``), so that a user's
sessions can be listed and revoked (``user_sessions``, ``revoke``,
``logout_everywhere``). Before login each session is its own owner,
``SESSIOND_ANONYMOUS_OWNER_PREFIX`` ("anonymous:") and its key, as the
tower-sessions store files them: anonymous visitors never share an owner,
so a per-owner session limit never makes them evict or refuse each other
and no owner's index grows with the number of visitors. sessiond cannot
change an owner, so when the user in the data changes (login) the save
creates a session under the new owner and deletes the old one: the key
changes, as Django's ``cycle_key`` intends anyway.

Expiry is sessiond's: Django's expiry age (``SESSION_COOKIE_AGE``, or
``set_expiry``) becomes the session's idle timeout, slid by every read; an
expiry date (``set_expiry(datetime)``) becomes a fixed lifetime. A save
with an expiry in the past ends the session at once. When a save asks for
another expiry than the stored session has, the session is stored again
under the same key with the new one.

Settings: ``SESSIOND_URL`` (default ``sessiond://127.0.0.1:7878``; for a
replication group, a list of URLs or ``host:port``, the first tried
first), ``SESSIOND_AUTH_TOKEN``, ``SESSIOND_CA_FILE``, ``SESSIOND_TIMEOUT``,
``SESSIOND_ANONYMOUS_OWNER_PREFIX``, ``SESSIOND_NEAR_CACHE``.

``SESSIOND_NEAR_CACHE`` turns on the client's near cache (docs/events.md,
"Near cache"): each request's session load is then answered from this
process's memory when it can be, with no round trip. ``None`` (the
default) leaves it off; ``"strict"`` or ``"relaxed"`` turns it on in that
mode with the default bounds; a dict (``{"mode": "strict", "max_entries":
10000, "max_bytes": 64 * 2**20}``) or a ``sessiond.NearCache`` sets them.
With ``"strict"``, once ``revoke``, ``logout_everywhere`` or a logout
returns, no app server's engine loads that session any more. It needs a
standalone server (a replication group refuses near caches, and every
load then goes to the server).
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple

from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError

from ..client import Client
from ..errors import IdTaken, NotFound
from ..near_cache import NearCache
from ..protocol import id_from_text, id_to_text
from ..types import Session, SessionInfo

_lock = threading.Lock()
_client: Optional[Client] = None


def get_client() -> Client:
    """The process-wide client built from settings (pooled, thread-safe)."""
    global _client
    with _lock:
        if _client is None:
            _client = Client(
                getattr(settings, "SESSIOND_URL", "sessiond://127.0.0.1:7878"),
                token=getattr(settings, "SESSIOND_AUTH_TOKEN", None),
                ca_file=getattr(settings, "SESSIOND_CA_FILE", None),
                timeout=getattr(settings, "SESSIOND_TIMEOUT", 5.0),
                near_cache=near_cache_setting(getattr(settings, "SESSIOND_NEAR_CACHE", None)),
            )
        return _client


def near_cache_setting(value: Any) -> Optional[NearCache]:
    """``SESSIOND_NEAR_CACHE`` as the client takes it (see the module docstring)."""
    if value is None or value is False:
        return None
    if isinstance(value, NearCache):
        return value
    if isinstance(value, str):
        return NearCache(value)
    if isinstance(value, dict):
        return NearCache(**value)
    raise ValueError(
        f"SESSIOND_NEAR_CACHE is None, 'strict', 'relaxed', a dict or a sessiond.NearCache, not {value!r}"
    )


def reset_client() -> None:
    """Drop the cached client (after settings change, e.g. in tests)."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None


def _valid_key(key: Optional[str]) -> bool:
    if not key:
        return False
    try:
        id_from_text(key)
    except ValueError:
        return False
    return True


# An expiry as sessiond keeps it: ("idle", seconds) slides with every read,
# ("until", Unix seconds) is a fixed deadline.
_Expiry = Tuple[str, int]


def _stored_expiry(session: Session) -> _Expiry:
    info = session.info
    if info.absolute_deadline is not None:
        return ("until", info.absolute_deadline)
    return ("idle", info.idle_secs)


def _same_expiry(a: Optional[_Expiry], b: _Expiry) -> bool:
    """Whether a stored expiry is the one asked for. A deadline counts as
    the same within 2 s: sessiond keeps whole seconds, rounded up, and the
    clock moves between two saves."""
    if a is None or a[0] != b[0]:
        return False
    return a[1] == b[1] if a[0] == "idle" else abs(a[1] - b[1]) <= 2


class SessionStore(SessionBase):
    """Django's SessionBase over sessiond; see the module docstring."""

    _session_key: Optional[str]

    def __init__(self, session_key: Optional[str] = None) -> None:
        super().__init__(session_key)
        # What the stored session has, as far as this object knows: a save
        # that wants another owner or expiry stores the session again.
        self._stored_owner: Optional[str] = None
        self._stored: Optional[_Expiry] = None

    @property
    def client(self) -> Client:
        return get_client()

    def _owner(self, data: Dict[str, Any]) -> str:
        user_id = data.get("_auth_user_id")
        if user_id is not None:
            return str(user_id)
        prefix = str(getattr(settings, "SESSIOND_ANONYMOUS_OWNER_PREFIX", "anonymous:"))
        return f"{prefix}{self._session_key}"

    def _expiry(self) -> Optional[_Expiry]:
        """The expiry this save asks for, or None when it is already past."""
        age = self.get_expiry_age()
        if age <= 0:
            return None
        if isinstance(self.get("_session_expiry"), (datetime, str)):
            # An expiry date (Django keeps one as ISO text): a fixed deadline.
            return ("until", int(time.time()) + age)
        return ("idle", age)

    def load(self) -> Dict[str, Any]:
        key = self.session_key
        if not _valid_key(key):
            self._session_key = None
            return {}
        try:
            stored = self.client.get(key, touch=True)
        except NotFound:
            self._session_key = None
            return {}
        self._stored_owner = stored.owner.decode("utf-8", "replace")
        self._stored = _stored_expiry(stored)
        decoded: Dict[str, Any] = self.decode(stored.data.decode("utf-8"))
        return decoded

    def exists(self, session_key: Optional[str]) -> bool:
        if session_key is None or not _valid_key(session_key):
            return False
        try:
            self.client.get(session_key, touch=False)
        except NotFound:
            return False
        return True

    def _encoded(self, data: Dict[str, Any]) -> bytes:
        text: str = self.encode(data)
        return text.encode("utf-8")

    def create(self) -> None:
        """A new session under a fresh key."""
        while True:
            self._session_key = id_to_text(secrets.token_bytes(16))
            try:
                self.save(must_create=True)
            except CreateError:
                continue  # a key already in use: 64 random bits matched
            self.modified = True
            return

    def save(self, must_create: bool = False) -> None:
        """Store the session: a new one with ``must_create`` (``CreateError``
        if its key is taken), else over the stored one (``UpdateError`` if
        it has ended meanwhile: a logged-out session is never brought back)."""
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)  # loading may find it gone
        if self.session_key is None:
            return self.create()
        expiry = self._expiry()
        if expiry is None:
            # An expiry in the past: the session is over.
            if not must_create:
                self.client.delete(self.session_key)
            return None
        owner = self._owner(data)
        if must_create:
            self._store_new(self.session_key, owner, data, expiry)
            return None
        if owner != self._stored_owner:
            # Login or a change of user: the owner is fixed per session, so
            # move the data to a new session and end the old one.
            old = self.session_key
            self.create()
            self.client.delete(old)
            return None
        if not _same_expiry(self._stored, expiry):
            # Another expiry: store the session again under the same key,
            # unless it ended meanwhile.
            if not self.client.delete(self.session_key):
                raise UpdateError
            self._store_new(self.session_key, owner, data, expiry)
            return None
        try:
            self.client.update(self.session_key, self._encoded(data))
        except NotFound as exc:
            raise UpdateError from exc
        return None

    def _store_new(self, key: str, owner: str, data: Dict[str, Any], expiry: _Expiry) -> None:
        kind, secs = expiry
        idle, lifetime = (secs, 0) if kind == "idle" else (0, max(1, secs - int(time.time())))
        try:
            self.client.create(
                owner, self._encoded(data), idle_timeout=idle, lifetime=lifetime, session_id=key
            )
        except IdTaken as exc:
            raise CreateError from exc
        self._stored_owner = owner
        self._stored = expiry

    def delete(self, session_key: Optional[str] = None) -> None:
        key = self.session_key if session_key is None else session_key
        if _valid_key(key):
            self.client.delete(key)

    @classmethod
    def clear_expired(cls) -> None:
        """Nothing to do: sessiond expires sessions itself."""


def user_sessions(user_id: Any) -> List[SessionInfo]:
    """The user's live sessions, most recently seen first."""
    return get_client().list(str(user_id))


def revoke(session_key: str) -> bool:
    """End one session (e.g. "log out that device"); False if it was gone."""
    return get_client().delete(session_key)


def logout_everywhere(user_id: Any, keep: Optional[str] = None) -> int:
    """End every session of the user except ``keep``; returns how many ended."""
    return get_client().delete_owner(str(user_id), keep)
