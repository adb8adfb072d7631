"use strict";
/**
 * Errors: one class per protocol error code (SPEC.md §10), plus the
 * client's own. Callers test `err instanceof NotFound` rather than compare
 * codes, and the detail fields the server sends become properties, so that
 * a lost conditional update says which version it lost to.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.ProtocolError = exports.TimeoutError = exports.ConnectionError = exports.ClientError = exports.CLOSING_CODES = exports.ERROR_CLASSES = exports.UnknownError = exports.Unavailable = exports.NotLeader = exports.Busy = exports.ShuttingDown = exports.BadHandshake = exports.UnsupportedVersion = exports.FrameTooLarge = exports.Malformed = exports.UnknownOp = exports.AuthFailed = exports.AuthRequired = exports.EventsGap = exports.Persistence = exports.WrongType = exports.Overflow = exports.NotAnInteger = exports.OutOfMemory = exports.VersionMismatch = exports.SessionLimit = exports.BadTimeout = exports.BadLabels = exports.BadKey = exports.TooLarge = exports.BadOwner = exports.IdTaken = exports.NotFound = exports.ServerError = exports.SessiondError = void 0;
/** Base of every error this package throws. */
class SessiondError extends Error {
    constructor(message, options) {
        super(message, options);
        this.name = new.target.name;
    }
}
exports.SessiondError = SessiondError;
/**
 * An error response from the server. `message` is the server's text (for
 * BAD_LABELS, BAD_TIMEOUT, MALFORMED and BAD_HANDSHAKE the only place the
 * reason is given, so it is kept verbatim); `details` holds the code's
 * detail fields, which are also properties of the error.
 */
class ServerError extends SessiondError {
    /** The wire code. */
    static code = 0;
    /** The code's name in SPEC.md (NOT_FOUND, ...). */
    static codeName = "";
    /** The code's detail fields in wire order. */
    static fields = [];
    code;
    codeName;
    details;
    constructor(message, details = {}, code) {
        super(message);
        const cls = new.target;
        this.code = code ?? cls.code;
        this.codeName = cls.codeName;
        this.details = { ...details };
        Object.assign(this, this.details);
    }
}
exports.ServerError = ServerError;
function server(code, codeName, fields = []) {
    return class extends ServerError {
        static code = code;
        static codeName = codeName;
        static fields = fields;
    };
}
/** No such session: unknown, deleted, rotated away or expired. */
class NotFound extends server(1, "NOT_FOUND") {
}
exports.NotFound = NotFound;
/** A caller-chosen id (or its 8-byte prefix) is in use. */
class IdTaken extends server(2, "ID_TAKEN") {
}
exports.IdTaken = IdTaken;
/** Owner empty or too long. */
class BadOwner extends server(3, "BAD_OWNER", [["length", "u32"], ["max", "u32"]]) {
}
exports.BadOwner = BadOwner;
/** Data or value too large. */
class TooLarge extends server(4, "TOO_LARGE", [["length", "u32"], ["max", "u32"]]) {
}
exports.TooLarge = TooLarge;
/** Key empty or too long. */
class BadKey extends server(5, "BAD_KEY", [["length", "u32"], ["max", "u32"]]) {
}
exports.BadKey = BadKey;
/** Labels break their limits; the message says which. */
class BadLabels extends server(6, "BAD_LABELS") {
}
exports.BadLabels = BadLabels;
/** A session that never expires, or a timeout out of range. */
class BadTimeout extends server(7, "BAD_TIMEOUT") {
}
exports.BadTimeout = BadTimeout;
/** The owner is at its `limit` and the policy is to refuse. */
class SessionLimit extends server(8, "SESSION_LIMIT", [["limit", "u32"]]) {
}
exports.SessionLimit = SessionLimit;
/** A conditional update lost: `expected` was asked, `actual` is stored. */
class VersionMismatch extends server(9, "VERSION_MISMATCH", [["expected", "u32"], ["actual", "u32"]]) {
}
exports.VersionMismatch = VersionMismatch;
/** The memory limit is reached (bytes). */
class OutOfMemory extends server(10, "OUT_OF_MEMORY", [["used", "u64"], ["limit", "u64"], ["needed", "u64"]]) {
}
exports.OutOfMemory = OutOfMemory;
/** INCR on a value that is not a decimal 64-bit integer. */
class NotAnInteger extends server(11, "NOT_AN_INTEGER") {
}
exports.NotAnInteger = NotAnInteger;
/** INCR would overflow a signed 64-bit integer. */
class Overflow extends server(12, "OVERFLOW") {
}
exports.Overflow = Overflow;
/** A string operation on a set-valued key, or the reverse. */
class WrongType extends server(13, "WRONG_TYPE") {
}
exports.WrongType = WrongType;
/** The data directory refuses writes (a full disk); reads go on, writes resume by themselves. */
class Persistence extends server(14, "PERSISTENCE") {
}
exports.Persistence = Persistence;
/**
 * EVENTS_READ asked for events after `after` that retention dropped: the
 * reader missed some. `oldestKept` (`oldest_kept`) is the oldest seq kept.
 */
class EventsGap extends server(15, "EVENTS_GAP", [["after", "u64"], ["oldest_kept", "u64"]]) {
}
exports.EventsGap = EventsGap;
/** The server has a token and this connection has not authenticated. */
class AuthRequired extends server(32, "AUTH_REQUIRED") {
}
exports.AuthRequired = AuthRequired;
/** Wrong token. */
class AuthFailed extends server(33, "AUTH_FAILED") {
}
exports.AuthFailed = AuthFailed;
/** The server does not know the `opcode` (an older server). */
class UnknownOp extends server(34, "UNKNOWN_OP", [["opcode", "u8"]]) {
}
exports.UnknownOp = UnknownOp;
/** The request body did not decode; the message says why. */
class Malformed extends server(35, "MALFORMED") {
}
exports.Malformed = Malformed;
/** A request longer than the server's `max` frame. */
class FrameTooLarge extends server(36, "FRAME_TOO_LARGE", [["max", "u32"]]) {
}
exports.FrameTooLarge = FrameTooLarge;
/** No common protocol version (the server speaks `lowest`..`highest`). */
class UnsupportedVersion extends server(37, "UNSUPPORTED_VERSION", [["lowest", "u16"], ["highest", "u16"]]) {
}
exports.UnsupportedVersion = UnsupportedVersion;
/** The server did not take us for a sessiond client. */
class BadHandshake extends server(38, "BAD_HANDSHAKE") {
}
exports.BadHandshake = BadHandshake;
/** The server is stopping; the connection closes. */
class ShuttingDown extends server(39, "SHUTTING_DOWN") {
}
exports.ShuttingDown = ShuttingDown;
/** The server is at its connection limit; the connection closes. */
class Busy extends server(40, "BUSY") {
}
exports.Busy = Busy;
/**
 * This node of a replication group is not the leader; the request was not
 * executed. `leader` is the leader's `host:port`, or "" when none is known
 * (an election is under way).
 */
class NotLeader extends server(41, "NOT_LEADER", [["leader", "str16"]]) {
}
exports.NotLeader = NotLeader;
/**
 * The replication group could not confirm the request in time; a write
 * may or may not have been applied.
 */
class Unavailable extends server(42, "UNAVAILABLE") {
}
exports.Unavailable = Unavailable;
/**
 * An error code this client does not know (SPEC.md §12: still an error).
 * Its detail fields cannot be decoded, so only `code` and `message` mean
 * anything.
 */
class UnknownError extends ServerError {
    static codeName = "UNKNOWN";
}
exports.UnknownError = UnknownError;
/** Every known code's class, by code. */
exports.ERROR_CLASSES = new Map([
    NotFound, IdTaken, BadOwner, TooLarge, BadKey, BadLabels, BadTimeout, SessionLimit,
    VersionMismatch, OutOfMemory, NotAnInteger, Overflow, WrongType, Persistence, EventsGap,
    AuthRequired, AuthFailed, UnknownOp, Malformed, FrameTooLarge, UnsupportedVersion,
    BadHandshake, ShuttingDown, Busy, NotLeader, Unavailable,
].map((cls) => [cls.code, cls]));
/** Codes after which the server closes the connection (SPEC.md §5, §6, §10). */
exports.CLOSING_CODES = new Set([36, 37, 38, 39, 40]);
/** A failure on our side of the wire, not an error response. */
class ClientError extends SessiondError {
}
exports.ClientError = ClientError;
/**
 * The connection could not be made or was lost. A request that was in
 * flight when this is thrown may or may not have been applied: the client
 * never retries it by itself.
 */
class ConnectionError extends ClientError {
}
exports.ConnectionError = ConnectionError;
/** Connecting, or waiting for a reply, took longer than its timeout. */
class TimeoutError extends ClientError {
}
exports.TimeoutError = TimeoutError;
/** The server sent bytes that do not follow the protocol. */
class ProtocolError extends ClientError {
}
exports.ProtocolError = ProtocolError;
