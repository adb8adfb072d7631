"""Python client for sessiond's native protocol (protocol/SPEC.md, version 1).

``Client`` is blocking and thread-safe; ``AsyncClient`` is its asyncio twin.
Both share the pure codec in :mod:`sessiond.protocol`; errors are in
:mod:`sessiond.errors`, one class per protocol error code.
"""

from __future__ import annotations

from .aio import AsyncClient, AsyncPipeline
from .client import Client, Pipeline
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _error_names
from .failover import Retry
from .near_cache import NearCache, NearCacheStats
from .protocol import id_from_text, id_to_text
from .types import Event, KeyTtl, OwnerLimit, ServerHello, Session, SessionInfo

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Pipeline",
    "AsyncClient",
    "AsyncPipeline",
    "Retry",
    "NearCache",
    "NearCacheStats",
    "Session",
    "Event",
    "SessionInfo",
    "KeyTtl",
    "OwnerLimit",
    "ServerHello",
    "id_from_text",
    "id_to_text",
    *_error_names,
]
