/**
 * Errors: one class per protocol error code (SPEC.md §10), plus the
 * client's own. Callers test `err instanceof NotFound` rather than compare
 * codes, and the detail fields the server sends become properties, so that
 * a lost conditional update says which version it lost to.
 */

/** The wire type of a detail field. */
export type FieldKind = "u8" | "u16" | "u32" | "u64" | "str16";

/** Base of every error this package throws. */
export class SessiondError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * An error response from the server. `message` is the server's text (for
 * BAD_LABELS, BAD_TIMEOUT, MALFORMED and BAD_HANDSHAKE the only place the
 * reason is given, so it is kept verbatim); `details` holds the code's
 * detail fields, which are also properties of the error.
 */
export class ServerError extends SessiondError {
  /** The wire code. */
  static readonly code: number = 0;
  /** The code's name in SPEC.md (NOT_FOUND, ...). */
  static readonly codeName: string = "";
  /** The code's detail fields in wire order. */
  static readonly fields: ReadonlyArray<readonly [string, FieldKind]> = [];

  readonly code: number;
  readonly codeName: string;
  readonly details: Readonly<Record<string, number | string>>;

  constructor(message: string, details: Record<string, number | string> = {}, code?: number) {
    super(message);
    const cls = new.target as unknown as typeof ServerError;
    this.code = code ?? cls.code;
    this.codeName = cls.codeName;
    this.details = { ...details };
    Object.assign(this, this.details);
  }
}

function server(code: number, codeName: string, fields: ReadonlyArray<readonly [string, FieldKind]> = []) {
  return class extends ServerError {
    static override readonly code = code;
    static override readonly codeName = codeName;
    static override readonly fields = fields;
  };
}

/** No such session: unknown, deleted, rotated away or expired. */
export class NotFound extends server(1, "NOT_FOUND") {}
/** A caller-chosen id (or its 8-byte prefix) is in use. */
export class IdTaken extends server(2, "ID_TAKEN") {}
/** Owner empty or too long. */
export class BadOwner extends server(3, "BAD_OWNER", [["length", "u32"], ["max", "u32"]]) {
  declare readonly length: number;
  declare readonly max: number;
}
/** Data or value too large. */
export class TooLarge extends server(4, "TOO_LARGE", [["length", "u32"], ["max", "u32"]]) {
  declare readonly length: number;
  declare readonly max: number;
}
/** Key empty or too long. */
export class BadKey extends server(5, "BAD_KEY", [["length", "u32"], ["max", "u32"]]) {
  declare readonly length: number;
  declare readonly max: number;
}
/** Labels break their limits; the message says which. */
export class BadLabels extends server(6, "BAD_LABELS") {}
/** A session that never expires, or a timeout out of range. */
export class BadTimeout extends server(7, "BAD_TIMEOUT") {}
/** The owner is at its `limit` and the policy is to refuse. */
export class SessionLimit extends server(8, "SESSION_LIMIT", [["limit", "u32"]]) {
  declare readonly limit: number;
}
/** A conditional update lost: `expected` was asked, `actual` is stored. */
export class VersionMismatch extends server(9, "VERSION_MISMATCH", [["expected", "u32"], ["actual", "u32"]]) {
  declare readonly expected: number;
  declare readonly actual: number;
}
/** The memory limit is reached (bytes). */
export class OutOfMemory extends server(10, "OUT_OF_MEMORY", [["used", "u64"], ["limit", "u64"], ["needed", "u64"]]) {
  declare readonly used: number;
  declare readonly limit: number;
  declare readonly needed: number;
}
/** INCR on a value that is not a decimal 64-bit integer. */
export class NotAnInteger extends server(11, "NOT_AN_INTEGER") {}
/** INCR would overflow a signed 64-bit integer. */
export class Overflow extends server(12, "OVERFLOW") {}
/** A string operation on a set-valued key, or the reverse. */
export class WrongType extends server(13, "WRONG_TYPE") {}
/** The data directory refuses writes (a full disk); reads go on, writes resume by themselves. */
export class Persistence extends server(14, "PERSISTENCE") {}
/**
 * EVENTS_READ asked for events after `after` that retention dropped: the
 * reader missed some. `oldestKept` (`oldest_kept`) is the oldest seq kept.
 */
export class EventsGap extends server(15, "EVENTS_GAP", [["after", "u64"], ["oldest_kept", "u64"]]) {
  declare readonly after: number;
  declare readonly oldest_kept: number;
}
/** The server has a token and this connection has not authenticated. */
export class AuthRequired extends server(32, "AUTH_REQUIRED") {}
/** Wrong token. */
export class AuthFailed extends server(33, "AUTH_FAILED") {}
/** The server does not know the `opcode` (an older server). */
export class UnknownOp extends server(34, "UNKNOWN_OP", [["opcode", "u8"]]) {
  declare readonly opcode: number;
}
/** The request body did not decode; the message says why. */
export class Malformed extends server(35, "MALFORMED") {}
/** A request longer than the server's `max` frame. */
export class FrameTooLarge extends server(36, "FRAME_TOO_LARGE", [["max", "u32"]]) {
  declare readonly max: number;
}
/** No common protocol version (the server speaks `lowest`..`highest`). */
export class UnsupportedVersion extends server(37, "UNSUPPORTED_VERSION", [["lowest", "u16"], ["highest", "u16"]]) {
  declare readonly lowest: number;
  declare readonly highest: number;
}
/** The server did not take us for a sessiond client. */
export class BadHandshake extends server(38, "BAD_HANDSHAKE") {}
/** The server is stopping; the connection closes. */
export class ShuttingDown extends server(39, "SHUTTING_DOWN") {}
/** The server is at its connection limit; the connection closes. */
export class Busy extends server(40, "BUSY") {}
/**
 * This node of a replication group is not the leader; the request was not
 * executed. `leader` is the leader's `host:port`, or "" when none is known
 * (an election is under way).
 */
export class NotLeader extends server(41, "NOT_LEADER", [["leader", "str16"]]) {
  declare readonly leader: string;
}
/**
 * The replication group could not confirm the request in time; a write
 * may or may not have been applied.
 */
export class Unavailable extends server(42, "UNAVAILABLE") {}

/**
 * An error code this client does not know (SPEC.md §12: still an error).
 * Its detail fields cannot be decoded, so only `code` and `message` mean
 * anything.
 */
export class UnknownError extends ServerError {
  static override readonly codeName = "UNKNOWN";
}

/** Every known code's class, by code. */
export const ERROR_CLASSES: ReadonlyMap<number, typeof ServerError> = new Map(
  [
    NotFound, IdTaken, BadOwner, TooLarge, BadKey, BadLabels, BadTimeout, SessionLimit,
    VersionMismatch, OutOfMemory, NotAnInteger, Overflow, WrongType, Persistence, EventsGap,
    AuthRequired, AuthFailed, UnknownOp, Malformed, FrameTooLarge, UnsupportedVersion,
    BadHandshake, ShuttingDown, Busy, NotLeader, Unavailable,
  ].map((cls) => [cls.code, cls as typeof ServerError]),
);

/** Codes after which the server closes the connection (SPEC.md §5, §6, §10). */
export const CLOSING_CODES: ReadonlySet<number> = new Set([36, 37, 38, 39, 40]);

/** A failure on our side of the wire, not an error response. */
export class ClientError extends SessiondError {}

/**
 * The connection could not be made or was lost. A request that was in
 * flight when this is thrown may or may not have been applied: the client
 * never retries it by itself.
 */
export class ConnectionError extends ClientError {}

/** Connecting, or waiting for a reply, took longer than its timeout. */
export class TimeoutError extends ClientError {}

/** The server sent bytes that do not follow the protocol. */
export class ProtocolError extends ClientError {}
