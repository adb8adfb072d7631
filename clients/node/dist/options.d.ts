/**
 * How to reach and authenticate with a server: the options a Client takes,
 * resolved once (URL parsed, token and CA files read) so that reconnecting
 * never touches the file system or fails on configuration.
 */
import type { ConnectionOptions as TlsConnectionOptions } from "node:tls";
import type { NearCacheOptions } from "./near-cache";
export interface BackoffOptions {
    /** The first delay between reconnection attempts (default 50 ms). */
    minMs?: number;
    /** The longest delay (default 5000 ms); each failure doubles the delay up to it. */
    maxMs?: number;
}
export interface ClientOptions {
    /**
     * `sessiond://host:port` (plain TCP) or `sessiond+tls://host:port` (TLS).
     * A password part is taken as the token (`sessiond://:TOKEN@host`), but
     * `token`/`tokenFile` keep it out of URLs that end up in logs.
     */
    url?: string;
    /** Default 127.0.0.1 (or the URL's). */
    host?: string;
    /** Default 7878 (or the URL's). */
    port?: number;
    /** The auth token, sent in AUTH after the handshake when the server asks for one. */
    token?: string | Uint8Array;
    /** A file holding the token (a mounted secret); one trailing line ending is dropped. */
    tokenFile?: string;
    /**
     * TLS: `true` to verify against the system CAs (or `caFile`), or node:tls
     * connection options merged over the defaults (for client certificates).
     */
    tls?: boolean | TlsConnectionOptions;
    /** A PEM file of the CA(s) that signed the server's certificate; implies TLS. */
    caFile?: string;
    /** The name the certificate must carry (default: the host, when it is a name). */
    servername?: string;
    /** Bound on TCP connect + TLS + handshake + AUTH (default 5000 ms). */
    connectTimeoutMs?: number;
    /** Bound on each request's reply (default 10000 ms). */
    requestTimeoutMs?: number;
    /** Most connections; concurrent calls are pipelined over them (default 4). */
    poolSize?: number;
    backoff?: BackoffOptions;
    /**
     * Keep the sessions `get` reads in memory, on a connection of its own
     * that the server's event log invalidates (docs/events.md, "Near cache");
     * `{}` for the defaults (strict).
     */
    nearCache?: NearCacheOptions;
}
/** The options with every default applied and every file read. */
export interface ResolvedOptions {
    host: string;
    port: number;
    token: Buffer | undefined;
    tls: TlsConnectionOptions | undefined;
    connectTimeoutMs: number;
    requestTimeoutMs: number;
    poolSize: number;
    backoff: Required<BackoffOptions>;
}
/**
 * Read a token file as the other clients do: the bytes as they are, less
 * one trailing "\n" or "\r\n" (what `echo` and editors add). An empty token
 * is refused rather than sent, since it can only be a mistake.
 */
export declare function readTokenFile(path: string): Buffer;
export declare function resolveOptions(opts: ClientOptions): ResolvedOptions;
