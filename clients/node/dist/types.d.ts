/**
 * The values the API hands back. They carry what the wire carries
 * (SPEC.md §6 `info`, §9) under camelCase names, so code written against
 * the Rust or Python client reads the same here.
 */
/** Labels: small string pairs stored with a session and shown by `list`. */
export type Labels = Record<string, string>;
/** Bytes as callers may give them; strings are sent as UTF-8. */
export type BytesLike = string | Uint8Array;
/**
 * A session's metadata, as `list` returns it (and `get` with the data).
 * Times are Unix seconds. `absoluteDeadline` is null when the session has
 * none (0 on the wire); `idleSecs` 0 means no idle timeout.
 */
export interface SessionInfo {
    id: string;
    created: number;
    lastSeen: number;
    idleSecs: number;
    absoluteDeadline: number | null;
    expiresAt: number;
    version: number;
    labels: Labels;
}
/** A session with its owner and data (GET). */
export interface Session {
    owner: Buffer;
    data: Buffer;
    info: SessionInfo;
}
/** What KEY_TTL says about a plain key. `ms` is 0 unless kind is "expires". */
export interface KeyTtl {
    kind: "missing" | "persistent" | "expires";
    ms: number;
}
/** What the server does when an owner is at its session limit. */
export type LimitPolicy = "none" | "reject" | "evict_oldest";
/**
 * A per-request cap on the owner's sessions (CREATE flag bit 3).
 * Policy "none" lifts any server-configured cap; `maxSessions` is then ignored.
 */
export interface OwnerLimit {
    maxSessions: number;
    policy: LimitPolicy;
}
/** Options of CREATE. Durations are whole seconds, rounded up. */
export interface CreateOptions {
    /** Session data (default empty). */
    data?: BytesLike;
    labels?: Labels;
    /** Idle timeout in seconds; absent: the server's default; 0: none. */
    idleSecs?: number;
    /** Absolute lifetime in seconds; absent: the server's default; 0: none. */
    lifetimeSecs?: number;
    /** Absent: the server's configured owner limit applies. */
    limit?: OwnerLimit;
    /** A caller-chosen id (as random as ours); the server refuses one in use. */
    id?: string | Uint8Array;
}
/** The server's side of the handshake (SPEC.md §5). */
export interface ServerHello {
    version: number;
    authRequired: boolean;
    maxFrame: number;
}
/**
 * One session lifecycle event (EVENTS_READ, docs/events.md). `id` is the
 * session's id (a rotation's old one); `reason` is set for "ended" only,
 * `newId` for "rotated" only, `note` when the deleter gave one.
 */
export interface SessionEvent {
    seq: number;
    atMs: number;
    kind: "created" | "rotated" | "updated" | "ended";
    reason: "deleted" | "owner_deleted" | "limit_evicted" | "memory_evicted" | "idle_expired" | "absolute_expired" | null;
    id: string;
    newId: string | null;
    owner: Buffer;
    labels: Labels;
    note: Buffer | null;
}
/** One step of a KEY_SCAN walk: the keys, and the cursor to pass next (0n: done). */
export interface ScanPage {
    cursor: bigint;
    keys: Buffer[];
}
/**
 * A near cache's mode (docs/events.md, "Near cache"): "strict" makes the
 * server answer a write that ends or changes a session only once this cache
 * has dropped it; "relaxed" waits for nothing.
 */
export type NearCacheMode = "strict" | "relaxed";
/** CACHE_REGISTER's answer: the newest seq logged, and the server's bound in ms. */
export interface CacheRegistration {
    head: number;
    boundMs: number;
}
