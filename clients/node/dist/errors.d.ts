/**
 * Errors: one class per protocol error code (SPEC.md §10), plus the
 * client's own. Callers test `err instanceof NotFound` rather than compare
 * codes, and the detail fields the server sends become properties, so that
 * a lost conditional update says which version it lost to.
 */
/** The wire type of a detail field. */
export type FieldKind = "u8" | "u16" | "u32" | "u64" | "str16";
/** Base of every error this package throws. */
export declare class SessiondError extends Error {
    constructor(message: string, options?: {
        cause?: unknown;
    });
}
/**
 * An error response from the server. `message` is the server's text (for
 * BAD_LABELS, BAD_TIMEOUT, MALFORMED and BAD_HANDSHAKE the only place the
 * reason is given, so it is kept verbatim); `details` holds the code's
 * detail fields, which are also properties of the error.
 */
export declare class ServerError extends SessiondError {
    /** The wire code. */
    static readonly code: number;
    /** The code's name in SPEC.md (NOT_FOUND, ...). */
    static readonly codeName: string;
    /** The code's detail fields in wire order. */
    static readonly fields: ReadonlyArray<readonly [string, FieldKind]>;
    readonly code: number;
    readonly codeName: string;
    readonly details: Readonly<Record<string, number | string>>;
    constructor(message: string, details?: Record<string, number | string>, code?: number);
}
declare const NotFound_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** No such session: unknown, deleted, rotated away or expired. */
export declare class NotFound extends NotFound_base {
}
declare const IdTaken_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** A caller-chosen id (or its 8-byte prefix) is in use. */
export declare class IdTaken extends IdTaken_base {
}
declare const BadOwner_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** Owner empty or too long. */
export declare class BadOwner extends BadOwner_base {
    readonly length: number;
    readonly max: number;
}
declare const TooLarge_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** Data or value too large. */
export declare class TooLarge extends TooLarge_base {
    readonly length: number;
    readonly max: number;
}
declare const BadKey_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** Key empty or too long. */
export declare class BadKey extends BadKey_base {
    readonly length: number;
    readonly max: number;
}
declare const BadLabels_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** Labels break their limits; the message says which. */
export declare class BadLabels extends BadLabels_base {
}
declare const BadTimeout_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** A session that never expires, or a timeout out of range. */
export declare class BadTimeout extends BadTimeout_base {
}
declare const SessionLimit_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** The owner is at its `limit` and the policy is to refuse. */
export declare class SessionLimit extends SessionLimit_base {
    readonly limit: number;
}
declare const VersionMismatch_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** A conditional update lost: `expected` was asked, `actual` is stored. */
export declare class VersionMismatch extends VersionMismatch_base {
    readonly expected: number;
    readonly actual: number;
}
declare const OutOfMemory_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** The memory limit is reached (bytes). */
export declare class OutOfMemory extends OutOfMemory_base {
    readonly used: number;
    readonly limit: number;
    readonly needed: number;
}
declare const NotAnInteger_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** INCR on a value that is not a decimal 64-bit integer. */
export declare class NotAnInteger extends NotAnInteger_base {
}
declare const Overflow_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** INCR would overflow a signed 64-bit integer. */
export declare class Overflow extends Overflow_base {
}
declare const WrongType_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** A string operation on a set-valued key, or the reverse. */
export declare class WrongType extends WrongType_base {
}
declare const Persistence_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** The data directory refuses writes (a full disk); reads go on, writes resume by themselves. */
export declare class Persistence extends Persistence_base {
}
declare const EventsGap_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/**
 * EVENTS_READ asked for events after `after` that retention dropped: the
 * reader missed some. `oldestKept` (`oldest_kept`) is the oldest seq kept.
 */
export declare class EventsGap extends EventsGap_base {
    readonly after: number;
    readonly oldest_kept: number;
}
declare const AuthRequired_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** The server has a token and this connection has not authenticated. */
export declare class AuthRequired extends AuthRequired_base {
}
declare const AuthFailed_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** Wrong token. */
export declare class AuthFailed extends AuthFailed_base {
}
declare const UnknownOp_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** The server does not know the `opcode` (an older server). */
export declare class UnknownOp extends UnknownOp_base {
    readonly opcode: number;
}
declare const Malformed_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** The request body did not decode; the message says why. */
export declare class Malformed extends Malformed_base {
}
declare const FrameTooLarge_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** A request longer than the server's `max` frame. */
export declare class FrameTooLarge extends FrameTooLarge_base {
    readonly max: number;
}
declare const UnsupportedVersion_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** No common protocol version (the server speaks `lowest`..`highest`). */
export declare class UnsupportedVersion extends UnsupportedVersion_base {
    readonly lowest: number;
    readonly highest: number;
}
declare const BadHandshake_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** The server did not take us for a sessiond client. */
export declare class BadHandshake extends BadHandshake_base {
}
declare const ShuttingDown_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** The server is stopping; the connection closes. */
export declare class ShuttingDown extends ShuttingDown_base {
}
declare const Busy_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/** The server is at its connection limit; the connection closes. */
export declare class Busy extends Busy_base {
}
declare const NotLeader_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/**
 * This node of a replication group is not the leader; the request was not
 * executed. `leader` is the leader's `host:port`, or "" when none is known
 * (an election is under way).
 */
export declare class NotLeader extends NotLeader_base {
    readonly leader: string;
}
declare const Unavailable_base: {
    new (message: string, details?: Record<string, number | string>, code?: number): {
        readonly code: number;
        readonly codeName: string;
        readonly details: Readonly<Record<string, number | string>>;
        name: string;
        message: string;
        stack?: string;
        cause?: unknown;
    };
    readonly code: number;
    readonly codeName: string;
    readonly fields: readonly (readonly [string, FieldKind])[];
    captureStackTrace(targetObject: object, constructorOpt?: Function): void;
    prepareStackTrace(err: Error, stackTraces: NodeJS.CallSite[]): any;
    stackTraceLimit: number;
};
/**
 * The replication group could not confirm the request in time; a write
 * may or may not have been applied.
 */
export declare class Unavailable extends Unavailable_base {
}
/**
 * An error code this client does not know (SPEC.md §12: still an error).
 * Its detail fields cannot be decoded, so only `code` and `message` mean
 * anything.
 */
export declare class UnknownError extends ServerError {
    static readonly codeName = "UNKNOWN";
}
/** Every known code's class, by code. */
export declare const ERROR_CLASSES: ReadonlyMap<number, typeof ServerError>;
/** Codes after which the server closes the connection (SPEC.md §5, §6, §10). */
export declare const CLOSING_CODES: ReadonlySet<number>;
/** A failure on our side of the wire, not an error response. */
export declare class ClientError extends SessiondError {
}
/**
 * The connection could not be made or was lost. A request that was in
 * flight when this is thrown may or may not have been applied: the client
 * never retries it by itself.
 */
export declare class ConnectionError extends ClientError {
}
/** Connecting, or waiting for a reply, took longer than its timeout. */
export declare class TimeoutError extends ClientError {
}
/** The server sent bytes that do not follow the protocol. */
export declare class ProtocolError extends ClientError {
}
export {};
