"use strict";
/**
 * The server's direction of the codec: decoding requests and encoding
 * replies. The client never needs it; it exists so that the golden vectors
 * can be checked in both directions, and for fakes in tests.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.UnknownOpcode = void 0;
exports.decodeRequest = decodeRequest;
exports.encodeOk = encodeOk;
exports.encodeError = encodeError;
const codec_1 = require("./codec");
const protocol_1 = require("./protocol");
/** An opcode this codec does not know: the server's UNKNOWN_OP. */
class UnknownOpcode extends Error {
    opcode;
    constructor(opcode) {
        super(`unknown operation 0x${opcode.toString(16).padStart(2, "0")}`);
        this.opcode = opcode;
        this.name = "UnknownOpcode";
    }
}
exports.UnknownOpcode = UnknownOpcode;
const NAMES = Object.fromEntries(Object.entries(protocol_1.Op).map(([k, v]) => [v, k.toLowerCase()]));
/**
 * Decode a request body as the server would. Throws DecodeError for what
 * the server answers MALFORMED and UnknownOpcode for UNKNOWN_OP. Byte
 * strings come back as Buffers, labels as [key, value] pairs in wire order.
 */
function decodeRequest(body) {
    const r = new codec_1.Reader(body);
    const opcode = r.u8("opcode");
    const op = NAMES[opcode];
    if (op === undefined)
        throw new UnknownOpcode(opcode);
    const f = { op };
    switch (opcode) {
        case protocol_1.Op.PING:
        case protocol_1.Op.STATS:
            break;
        case protocol_1.Op.AUTH:
            f.token = r.bytes16("token");
            break;
        case protocol_1.Op.CREATE: {
            const flags = r.u8("flags");
            if (flags & 0xf0)
                throw new codec_1.DecodeError(`reserved CREATE flags 0x${flags.toString(16)}`);
            f.id = flags & 1 ? r.id() : null;
            f.idle_secs = flags & 2 ? r.u32() : null;
            f.absolute_secs = flags & 4 ? r.u32() : null;
            if (flags & 8) {
                const max = r.u32();
                const policy = r.u8("policy");
                if (policy >= protocol_1.POLICIES.length)
                    throw new codec_1.DecodeError(`unknown limit policy ${policy}`);
                f.limit = { max_sessions: max, policy: protocol_1.POLICIES[policy] };
            }
            else {
                f.limit = null;
            }
            f.owner = r.bytes16("owner");
            f.labels = Object.entries(r.labels());
            f.data = r.bytes32("data");
            break;
        }
        case protocol_1.Op.GET:
            f.id = r.id();
            f.touch = r.bool("touch");
            break;
        case protocol_1.Op.UPDATE:
            f.id = r.id();
            f.expected_version = r.present() ? r.u32() : null;
            f.data = r.bytes32("data");
            break;
        case protocol_1.Op.TOUCH:
        case protocol_1.Op.DELETE:
        case protocol_1.Op.ROTATE:
            f.id = r.id();
            break;
        case protocol_1.Op.LIST:
        case protocol_1.Op.COUNT:
            f.owner = r.bytes16("owner");
            break;
        case protocol_1.Op.DELETE_OWNER:
            f.owner = r.bytes16("owner");
            f.keep = r.present() ? r.id() : null;
            break;
        case protocol_1.Op.KEY_SET:
        case protocol_1.Op.KEY_EXPIRE:
            f.key = r.bytes16("key");
            f.ttl_ms = r.present() ? r.u64() : null;
            if (opcode === protocol_1.Op.KEY_SET)
                f.value = r.bytes32("value");
            break;
        case protocol_1.Op.KEY_INCR:
            f.key = r.bytes16("key");
            f.delta = r.i64();
            break;
        case protocol_1.Op.KEY_SCAN:
            f.cursor = r.u64Big("cursor");
            f.count = r.u32("count");
            f.pattern_hex = r.present("pattern") ? r.bytes16("pattern").toString("hex") : null;
            break;
        case protocol_1.Op.NODE_ADD:
            f.id = r.u64Big("node id");
            f.raft_addr = r.str16("raft address");
            break;
        case protocol_1.Op.NODE_REMOVE:
            f.id = r.u64Big("node id");
            break;
        case protocol_1.Op.KEY_INCR_TTL:
            f.key = r.bytes16("key");
            f.delta = r.i64();
            f.ttl_ms = r.u64();
            break;
        case protocol_1.Op.EVENTS_READ:
            f.after = r.u64("after");
            f.max = r.u32("max");
            f.timeout_ms = r.u32("timeout");
            break;
        case protocol_1.Op.DELETE_NOTED:
            f.id = r.id();
            f.note = r.bytes16("note");
            break;
        case protocol_1.Op.DELETE_OWNER_NOTED:
            f.owner = r.bytes16("owner");
            f.keep = r.present() ? r.id() : null;
            f.note = r.bytes16("note");
            break;
        case protocol_1.Op.CACHE_REGISTER: {
            // The mode byte as the vectors give it: 1 strict, 2 relaxed.
            const mode = r.u8("mode");
            if (protocol_1.CACHE_MODES[mode - 1] === undefined)
                throw new codec_1.DecodeError("a near cache's mode is 1 (strict) or 2 (relaxed)");
            f.mode = mode;
            break;
        }
        default: // KEY_GET, KEY_DELETE, KEY_TTL
            f.key = r.bytes16("key");
    }
    r.end();
    return f;
}
/** A success response frame: status 0, the tag, then what `build` writes. */
function encodeOk(tag, build) {
    const w = new codec_1.Writer().u8(0).u8(tag);
    build?.(w);
    return w.frame();
}
/** An error response frame for an error: its code, message and detail fields. */
function encodeError(err) {
    const w = new codec_1.Writer().u8(err.code).str16(err.message);
    const cls = err.constructor;
    for (const [name, kind] of cls.fields) {
        const value = err.details[name];
        if (kind === "str16")
            w.str16(String(value));
        else
            w[kind](Number(value));
    }
    return w.frame();
}
