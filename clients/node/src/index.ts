/**
 * sessiond for Node.js: a client for the native protocol (connection pool,
 * pipelining, TLS, auth, timeouts, reconnect) and, under `sessiond/express`,
 * an express-session store with device lists and log-out-everywhere.
 */

export { Client } from "./client";
export type { ClientOptions, BackoffOptions } from "./options";
export { readTokenFile } from "./options";
export type { PoolStats } from "./pool";
export type { NearCache, NearCacheOptions, NearCacheStats } from "./near-cache";
export * from "./errors";
export { generateSessionId, idBytes, idFromText, idToText, isSessionId, routingSlot, type IdLike } from "./ids";
export type { BytesLike, CacheRegistration, CreateOptions, KeyTtl, Labels, LimitPolicy, NearCacheMode, OwnerLimit, ScanPage, ServerHello, Session, SessionEvent, SessionInfo } from "./types";
export * as events from "./events";
export * as protocol from "./protocol";
