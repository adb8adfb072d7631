/**
 * How to reach and authenticate with a server: the options a Client takes,
 * resolved once (URL parsed, token and CA files read) so that reconnecting
 * never touches the file system or fails on configuration.
 */

import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { ConnectionOptions as TlsConnectionOptions } from "node:tls";

import { ClientError } from "./errors";
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
export function readTokenFile(path: string): Buffer {
  let token: Buffer;
  try {
    token = readFileSync(path);
  } catch (e) {
    throw new ClientError(`reading token file ${path}: ${(e as Error).message}`, { cause: e });
  }
  // As the server reads its token file: surrounding ASCII whitespace
  // (space, tab, line feed, form feed, carriage return) is not the token.
  const space = (b: number | undefined) =>
    b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d;
  let start = 0;
  let end = token.length;
  while (start < end && space(token[start])) start++;
  while (end > start && space(token[end - 1])) end--;
  token = token.subarray(start, end);
  if (token.length === 0) throw new ClientError(`token file ${path} is empty`);
  return token;
}

function parseUrl(url: string): { host?: string; port?: number; token?: string; tls: boolean } {
  const m = /^(sessiond|sessiond\+tls|sessiondtls):\/\//.exec(url);
  if (!m) throw new ClientError(`unsupported URL ${JSON.stringify(url)} (use sessiond:// or sessiond+tls://)`);
  // WHATWG URL parses authority parts of any scheme given a special-looking one.
  const u = new URL(url.replace(m[1], "http"));
  return {
    host: u.hostname ? u.hostname.replace(/^\[(.*)\]$/, "$1") : undefined,
    port: u.port ? Number(u.port) : undefined,
    token: u.password ? decodeURIComponent(u.password) : undefined,
    tls: m[1] !== "sessiond",
  };
}

function positive(v: number | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  if (!(typeof v === "number" && v > 0 && Number.isFinite(v))) throw new ClientError(`${what} must be a positive number, got ${v}`);
  return v;
}

export function resolveOptions(opts: ClientOptions): ResolvedOptions {
  const fromUrl = opts.url === undefined ? { tls: false } : parseUrl(opts.url);
  const host = opts.host ?? fromUrl.host ?? "127.0.0.1";
  const port = opts.port ?? fromUrl.port ?? 7878;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ClientError(`bad port ${port}`);

  let token: Buffer | undefined;
  if (opts.token !== undefined && opts.tokenFile !== undefined) throw new ClientError("give token or tokenFile, not both");
  if (opts.tokenFile !== undefined) token = readTokenFile(opts.tokenFile);
  else if (opts.token !== undefined) token = Buffer.from(opts.token as string | Uint8Array);
  else if (fromUrl.token !== undefined) token = Buffer.from(fromUrl.token, "utf8");
  if (token !== undefined && (token.length === 0 || token.length > 0xffff)) {
    throw new ClientError(`the auth token must be 1 to 65535 bytes, got ${token.length}`);
  }

  let tls: TlsConnectionOptions | undefined;
  if (opts.tls || opts.caFile !== undefined || (fromUrl.tls && opts.tls !== false)) {
    // Verification stays on: a private CA is given with caFile, not by turning checks off.
    const servername = opts.servername ?? (isIP(host) ? undefined : host);
    tls = { minVersion: "TLSv1.2", rejectUnauthorized: true, servername };
    if (opts.caFile !== undefined) {
      try {
        tls.ca = readFileSync(opts.caFile);
      } catch (e) {
        throw new ClientError(`reading CA file ${opts.caFile}: ${(e as Error).message}`, { cause: e });
      }
    }
    if (typeof opts.tls === "object") tls = { ...tls, ...opts.tls };
  }

  const minMs = positive(opts.backoff?.minMs, 50, "backoff.minMs");
  const maxMs = positive(opts.backoff?.maxMs, 5000, "backoff.maxMs");
  if (minMs > maxMs) throw new ClientError(`backoff.minMs (${minMs}) is above backoff.maxMs (${maxMs})`);
  return {
    host,
    port,
    token,
    tls,
    connectTimeoutMs: positive(opts.connectTimeoutMs, 5000, "connectTimeoutMs"),
    requestTimeoutMs: positive(opts.requestTimeoutMs, 10000, "requestTimeoutMs"),
    poolSize: Math.floor(positive(opts.poolSize, 4, "poolSize")),
    backoff: { minMs, maxMs },
  };
}
