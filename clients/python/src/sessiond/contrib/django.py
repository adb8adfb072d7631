"""A Django session engine on sessiond: ``SESSION_ENGINE = "sessiond.contrib.django"``.

The session dict, encoded by Django's serializer, is a sessiond session's
data; the session key is sessiond's 22-character id. The owner is the
logged-in user's id (``_auth_user_id``) so that a user's sessions can be
listed and revoked (``user_sessions``, ``revoke``, ``logout_everywhere``);
before login it is ``SESSIOND_ANONYMOUS_OWNER`` ("anonymous"). sessiond
cannot change an owner, so when the user in the data changes (login) the
save creates a session under the new owner and deletes the old one: the key
changes, as Django's ``cycle_key`` intends anyway.

Settings: ``SESSIOND_URL`` (default ``sessiond://127.0.0.1:7878``),
``SESSIOND_AUTH_TOKEN``, ``SESSIOND_CA_FILE``, ``SESSIOND_TIMEOUT``.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional

from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError

from ..client import Client
from ..errors import NotFound
from ..types import SessionInfo

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
            )
        return _client


def reset_client() -> None:
    """Drop the cached client (after settings change, e.g. in tests)."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None


def _anonymous() -> str:
    return str(getattr(settings, "SESSIOND_ANONYMOUS_OWNER", "anonymous"))


def _owner_of(data: Dict[str, Any]) -> str:
    user_id = data.get("_auth_user_id")
    return _anonymous() if user_id is None else str(user_id)


class SessionStore(SessionBase):
    """Django's SessionBase over sessiond; see the module docstring."""

    _session_key: Optional[str]

    def __init__(self, session_key: Optional[str] = None) -> None:
        super().__init__(session_key)
        self._stored_owner: Optional[str] = None

    @property
    def client(self) -> Client:
        return get_client()

    def _valid_id(self, key: Optional[str]) -> bool:
        from ..protocol import id_from_text

        if not key:
            return False
        try:
            id_from_text(key)
        except ValueError:
            return False
        return True

    def load(self) -> Dict[str, Any]:
        key = self.session_key
        if key is None or not self._valid_id(key):
            self._session_key = None
            return {}
        try:
            stored = self.client.get(key, touch=True)
        except NotFound:
            self._session_key = None
            return {}
        self._stored_owner = stored.owner.decode("utf-8", "replace")
        decoded: Dict[str, Any] = self.decode(stored.data.decode("utf-8"))
        return decoded

    def exists(self, session_key: Optional[str]) -> bool:
        if session_key is None or not self._valid_id(session_key):
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
        """A new session (sessiond generates the id, so no collision loop)."""
        data = self._get_session(no_load=True)
        owner = _owner_of(data)
        self._session_key = self.client.create(
            owner, self._encoded(data), idle_timeout=self.get_expiry_age()
        )
        self._stored_owner = owner
        self.modified = True

    def save(self, must_create: bool = False) -> None:
        if must_create:
            raise CreateError("sessiond generates ids; use create()")
        data = self._get_session()  # loading may find the session gone
        if self.session_key is None:
            return self.create()
        owner = _owner_of(data)
        if owner != self._stored_owner:
            # Login or a change of user: the owner is fixed per session, so
            # move the data to a new session and end the old one.
            old = self.session_key
            self.create()
            self.client.delete(old)
            return None
        try:
            self.client.update(self.session_key, self._encoded(data))
        except NotFound as exc:
            raise UpdateError from exc
        return None

    def delete(self, session_key: Optional[str] = None) -> None:
        key = self.session_key if session_key is None else session_key
        if key is not None and self._valid_id(key):
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
