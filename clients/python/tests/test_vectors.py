"""Every golden vector of protocol/vectors/v1.json, byte for byte, both directions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest

from sessiond import errors, events, protocol
from sessiond.protocol import Call, Reader, Writer
from sessiond.types import Event, KeyTtl, OwnerLimit, ServerHello, Session, SessionInfo

VECTORS: List[Dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parents[3] / "protocol" / "vectors" / "v1.json").read_text()
)["vectors"]


def of_kind(kind: str) -> List[Dict[str, Any]]:
    return [v for v in VECTORS if v["kind"] == kind]


def h(x: str) -> bytes:
    return bytes.fromhex(x)


def test_every_kind_present() -> None:
    assert {v["kind"] for v in VECTORS} == {"request", "response", "client_hello", "server_hello", "bad_request"}
    assert len(VECTORS) == 105


def test_every_error_code_has_a_vector() -> None:
    names = {v["name"] for v in VECTORS}
    for cls in errors.ERROR_CLASSES.values():
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
        assert f"error_{snake}" in names, cls.__name__


def build_request(f: Dict[str, Any]) -> Call[object]:
    """The API call that the vector's fields describe."""
    op = f["op"]
    if op == "ping":
        return protocol.ping()
    if op == "auth":
        return protocol.auth(h(f["token_hex"]))
    if op == "stats":
        return protocol.stats()
    if op == "create":
        lim = f["limit"]
        return protocol.create(
            h(f["owner_hex"]),
            h(f["data_hex"]),
            labels=dict(f["labels"]),
            idle_timeout=f["idle_secs"],
            lifetime=f["absolute_secs"],
            limit=None if lim is None else OwnerLimit(lim["max_sessions"], lim["policy"]),
            session_id=f["id"],
        )
    if op == "get":
        return protocol.get(f["id"], f["touch"])
    if op == "update":
        return protocol.update(f["id"], h(f["data_hex"]), f["expected_version"])
    if op in ("touch", "delete", "rotate"):
        return getattr(protocol, op)(f["id"])  # type: ignore[no-any-return]
    if op == "list":
        return protocol.list_sessions(h(f["owner_hex"]))
    if op == "count":
        return protocol.count(h(f["owner_hex"]))
    if op == "delete_owner":
        return protocol.delete_owner(h(f["owner_hex"]), f["keep"])
    ttl = None if f.get("ttl_ms") is None else f["ttl_ms"] / 1000
    if op == "key_set":
        return protocol.key_set(h(f["key_hex"]), h(f["value_hex"]), ttl)
    if op == "key_expire":
        return protocol.key_expire(h(f["key_hex"]), ttl)
    if op == "key_incr":
        return protocol.key_incr(h(f["key_hex"]), f["delta"])
    if op == "key_incr_ttl":
        return protocol.key_incr_ttl(h(f["key_hex"]), f["delta"], f["ttl_ms"] / 1000)
    if op == "node_add":
        return protocol.node_add(f["id"], f["raft_addr"])
    if op == "node_remove":
        return protocol.node_remove(f["id"])
    if op == "events_read":
        return events.events_read(f["after"], f["max"], f["timeout_ms"] / 1000)
    if op == "cache_register":
        return protocol.cache_register(protocol.CACHE_MODES[f["mode"] - 1])
    if op == "delete_noted":
        return events.delete_noted(f["id"], h(f["note_hex"]))
    if op == "delete_owner_noted":
        return events.delete_owner_noted(h(f["owner_hex"]), f["keep"], h(f["note_hex"]))
    if op == "key_scan":
        pattern = None if f["pattern_hex"] is None else h(f["pattern_hex"])
        return protocol.key_scan(f["cursor"], f["count"], pattern)
    return getattr(protocol, op)(h(f["key_hex"]))  # type: ignore[no-any-return]


def fields_of_decoded(name: str, d: Dict[str, Any]) -> Dict[str, Any]:
    """Our decoder's output in the vector file's JSON shape."""
    out: Dict[str, Any] = {"op": name}
    for k, v in d.items():
        if isinstance(v, bytes):
            out[k + "_hex"] = v.hex()
        elif k == "pattern" and v is None:
            out["pattern_hex"] = None  # an absent byte string keeps its _hex name
        elif isinstance(v, OwnerLimit):
            out[k] = {"max_sessions": v.max_sessions, "policy": v.policy}
        elif k == "labels":
            out[k] = [list(p) for p in v.items()]
        else:
            out[k] = v
    return out


@pytest.mark.parametrize("v", of_kind("request"), ids=lambda v: v["name"])
def test_request_encodes_and_decodes(v: Dict[str, Any]) -> None:
    frame = h(v["hex"])
    assert build_request(v["fields"]).frame == frame
    name, decoded = protocol.decode_request(frame[4:])
    assert fields_of_decoded(name, decoded) == v["fields"]


def info_json(i: SessionInfo) -> Dict[str, Any]:
    return {
        "id": i.id,
        "created": i.created,
        "last_seen": i.last_seen,
        "idle_secs": i.idle_secs,
        "absolute_deadline": i.absolute_deadline,
        "expires_at": i.expires_at,
        "version": i.version,
        "labels": [list(p) for p in i.labels.items()],
    }


def info_of(j: Dict[str, Any]) -> SessionInfo:
    return SessionInfo(
        j["id"], j["created"], j["last_seen"], j["idle_secs"], j["absolute_deadline"],
        j["expires_at"], j["version"], dict(j["labels"]),
    )


def event_json(e: Event) -> Dict[str, Any]:
    return {
        "seq": e.seq,
        "at_ms": e.at_ms,
        "kind": e.kind,
        "reason": e.reason,
        "id": e.id,
        "new_id": e.new_id,
        "owner_hex": e.owner.hex(),
        "labels": [list(p) for p in e.labels.items()],
        "note_hex": None if e.note is None else e.note.hex(),
    }


def event_of(j: Dict[str, Any]) -> Event:
    note = None if j["note_hex"] is None else h(j["note_hex"])
    return Event(
        j["seq"], j["at_ms"], j["kind"], j["id"], h(j["owner_hex"]), dict(j["labels"]), j["reason"], j["new_id"], note
    )


# reply name -> (tag, the Call reading it, value -> JSON fields, JSON fields -> writer)
REPLIES: Dict[str, Any] = {
    "done": (protocol.ping(), lambda x: {}, lambda f, w: None),
    "id": (protocol.rotate(b"\0" * 16), lambda x: {"id": x}, lambda f, w: w.raw(protocol.id_from_text(f["id"]))),
    "session": (
        protocol.get(b"\0" * 16),
        lambda s: {"owner_hex": s.owner.hex(), "data_hex": s.data.hex(), "info": info_json(s.info)},
        lambda f, w: w.bytes16(h(f["owner_hex"])).bytes32(h(f["data_hex"])).info(info_of(f["info"])),
    ),
    "version": (protocol.update(b"\0" * 16, b""), lambda x: {"version": x}, lambda f, w: w.u32(f["version"])),
    "time": (protocol.touch(b"\0" * 16), lambda x: {"time": x}, lambda f, w: w.u64(f["time"])),
    "bool": (protocol.delete(b"\0" * 16), lambda x: {"value": x}, lambda f, w: w.bool(f["value"])),
    "list": (
        protocol.list_sessions(b"o"),
        lambda xs: {"sessions": [info_json(i) for i in xs]},
        lambda f, w: [w.u32(len(f["sessions"]))] + [w.info(info_of(i)) for i in f["sessions"]],
    ),
    "count": (protocol.count(b"o"), lambda x: {"count": x}, lambda f, w: w.u32(f["count"])),
    "value": (
        protocol.key_get(b"k"),
        lambda x: {"value_hex": None if x is None else x.hex()},
        lambda f, w: w.u8(0) if f["value_hex"] is None else w.u8(1).bytes32(h(f["value_hex"])),
    ),
    "ttl": (
        protocol.key_ttl(b"k"),
        lambda t: {"kind": t.kind, "ms": t.ms},
        lambda f, w: w.u8(protocol.TTL_KINDS.index(f["kind"])).u64(f["ms"]),
    ),
    "integer": (protocol.key_incr(b"k"), lambda x: {"value": x}, lambda f, w: w.i64(f["value"])),
    "scan": (
        protocol.key_scan(),
        lambda x: {"cursor": x[0], "keys_hex": [k.hex() for k in x[1]]},
        lambda f, w: [w.u64(f["cursor"]).u32(len(f["keys_hex"]))] + [w.bytes16(h(k)) for k in f["keys_hex"]],
    ),
    "events": (
        events.events_read(),
        lambda xs: {"events": [event_json(e) for e in xs]},
        lambda f, w: [w.u32(len(f["events"]))] + [events.write_event(w, event_of(e)) for e in f["events"]],
    ),
    "cache": (
        protocol.cache_register("strict"),
        lambda g: {"head": g.head, "bound_ms": g.bound_ms},
        lambda f, w: w.u64(f["head"]).u32(f["bound_ms"]),
    ),
    "stats": (
        protocol.stats(),
        lambda d: {"stats": [list(p) for p in d.items()]},
        lambda f, w: [w.u16(len(f["stats"]))] + [w.str8(n).u64(v) for n, v in f["stats"]],
    ),
}


@pytest.mark.parametrize("v", of_kind("response"), ids=lambda v: v["name"])
def test_response_decodes_and_encodes(v: Dict[str, Any]) -> None:
    frame = h(v["hex"])
    f = v["fields"]
    if f["status"] == "ok":
        call, to_json, build = REPLIES[f["reply"]]
        assert call.tag == frame[5]
        value = call.parse(frame[4:])
        expected = {k: x for k, x in f.items() if k not in ("status", "reply")}
        assert to_json(value) == expected
        assert protocol.encode_ok(call.tag, lambda w: build(f, w)) == frame
    else:
        with pytest.raises(errors.ServerError) as info:
            protocol.ping().parse(frame[4:])
        err = info.value
        cls = errors.ERROR_CLASSES[f["code_value"]]
        assert type(err) is cls and cls.name == f["code"] and err.code == f["code_value"]
        assert err.message == f["message"]
        detail = {k: x for k, x in f.items() if k not in ("status", "code", "code_value", "message")}
        assert err.details == detail
        for k, x in detail.items():
            assert getattr(err, k) == x
        assert protocol.encode_error(err) == frame


def test_every_error_code_has_a_vector() -> None:
    codes = {v["fields"]["code_value"] for v in of_kind("response") if v["fields"]["status"] == "error"}
    assert codes == set(errors.ERROR_CLASSES)


def test_every_reply_tag_has_a_vector() -> None:
    assert {v["fields"]["reply"] for v in of_kind("response") if v["fields"]["status"] == "ok"} == set(REPLIES)


@pytest.mark.parametrize("v", of_kind("client_hello"), ids=lambda v: v["name"])
def test_client_hello(v: Dict[str, Any]) -> None:
    assert protocol.client_hello(v["fields"]["version"]) == h(v["hex"])


@pytest.mark.parametrize("v", of_kind("server_hello"), ids=lambda v: v["name"])
def test_server_hello(v: Dict[str, Any]) -> None:
    hello = protocol.parse_server_hello(h(v["hex"]))
    f = v["fields"]
    assert hello == ServerHello(f["version"], f["auth_required"], f["max_frame"])
    assert protocol.server_hello(hello) == h(v["hex"])


def test_server_hello_with_unknown_flag_is_refused() -> None:
    with pytest.raises(errors.ProtocolError):
        protocol.parse_server_hello(h("53534e44000100030020000000000000"))


@pytest.mark.parametrize("v", of_kind("bad_request"), ids=lambda v: v["name"])
def test_bad_request_rejected(v: Dict[str, Any]) -> None:
    expected = {"UNKNOWN_OP": protocol.UnknownOpcode, "MALFORMED": protocol.DecodeError}[v["error"]]
    with pytest.raises(ValueError) as info:
        protocol.decode_request(h(v["hex"]))
    assert type(info.value) is expected


def test_unknown_error_code_is_still_an_error() -> None:
    body = Writer().u8(99).str16("future error").raw(b"\x01\x02").frame()[4:]
    with pytest.raises(errors.UnknownError) as info:
        protocol.ping().parse(body)
    assert info.value.code == 99 and info.value.message == "future error"


def test_id_text_form() -> None:
    raw = bytes(range(15)) + b"\xff"
    assert protocol.id_to_text(raw) == "AAECAwQFBgcICQoLDA0O_w"
    assert protocol.id_from_text("AAECAwQFBgcICQoLDA0O_w") == raw
    for bad in ("AAECAwQFBgcICQoLDA0O_x", "AAECAwQFBgcICQoLDA0O_", "AAECAwQFBgcICQoLDA0O+w", "AAECAwQFBgcICQoLDA0O_w="):
        with pytest.raises(ValueError):
            protocol.id_from_text(bad)


def test_reader_surplus_and_session_type() -> None:
    r = Reader(b"\x00\x01")
    r.u8()
    with pytest.raises(protocol.DecodeError):
        r.end()
    assert KeyTtl("missing").exists is False
    s = Session(b"o", b"d", SessionInfo("AAECAwQFBgcICQoLDA0O_w", 1, 1, 0, None, 2, 1))
    assert s.id == "AAECAwQFBgcICQoLDA0O_w" and s.version == 1
