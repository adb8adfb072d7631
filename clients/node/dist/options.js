"use strict";
/**
 * How to reach and authenticate with a server: the options a Client takes,
 * resolved once (URL parsed, token and CA files read) so that reconnecting
 * never touches the file system or fails on configuration.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.readTokenFile = readTokenFile;
exports.resolveOptions = resolveOptions;
const node_fs_1 = require("node:fs");
const node_net_1 = require("node:net");
const errors_1 = require("./errors");
/**
 * Read a token file as the other clients do: the bytes as they are, less
 * one trailing "\n" or "\r\n" (what `echo` and editors add). An empty token
 * is refused rather than sent, since it can only be a mistake.
 */
function readTokenFile(path) {
    let token;
    try {
        token = (0, node_fs_1.readFileSync)(path);
    }
    catch (e) {
        throw new errors_1.ClientError(`reading token file ${path}: ${e.message}`, { cause: e });
    }
    // As the server reads its token file: surrounding ASCII whitespace
    // (space, tab, line feed, form feed, carriage return) is not the token.
    const space = (b) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d;
    let start = 0;
    let end = token.length;
    while (start < end && space(token[start]))
        start++;
    while (end > start && space(token[end - 1]))
        end--;
    token = token.subarray(start, end);
    if (token.length === 0)
        throw new errors_1.ClientError(`token file ${path} is empty`);
    return token;
}
function parseUrl(url) {
    const m = /^(sessiond|sessiond\+tls|sessiondtls):\/\//.exec(url);
    if (!m)
        throw new errors_1.ClientError(`unsupported URL ${JSON.stringify(url)} (use sessiond:// or sessiond+tls://)`);
    // WHATWG URL parses authority parts of any scheme given a special-looking one.
    const u = new URL(url.replace(m[1], "http"));
    return {
        host: u.hostname ? u.hostname.replace(/^\[(.*)\]$/, "$1") : undefined,
        port: u.port ? Number(u.port) : undefined,
        token: u.password ? decodeURIComponent(u.password) : undefined,
        tls: m[1] !== "sessiond",
    };
}
function positive(v, fallback, what) {
    if (v === undefined)
        return fallback;
    if (!(typeof v === "number" && v > 0 && Number.isFinite(v)))
        throw new errors_1.ClientError(`${what} must be a positive number, got ${v}`);
    return v;
}
function resolveOptions(opts) {
    const fromUrl = opts.url === undefined ? { tls: false } : parseUrl(opts.url);
    const host = opts.host ?? fromUrl.host ?? "127.0.0.1";
    const port = opts.port ?? fromUrl.port ?? 7878;
    if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new errors_1.ClientError(`bad port ${port}`);
    let token;
    if (opts.token !== undefined && opts.tokenFile !== undefined)
        throw new errors_1.ClientError("give token or tokenFile, not both");
    if (opts.tokenFile !== undefined)
        token = readTokenFile(opts.tokenFile);
    else if (opts.token !== undefined)
        token = Buffer.from(opts.token);
    else if (fromUrl.token !== undefined)
        token = Buffer.from(fromUrl.token, "utf8");
    if (token !== undefined && (token.length === 0 || token.length > 0xffff)) {
        throw new errors_1.ClientError(`the auth token must be 1 to 65535 bytes, got ${token.length}`);
    }
    let tls;
    if (opts.tls || opts.caFile !== undefined || (fromUrl.tls && opts.tls !== false)) {
        // Verification stays on: a private CA is given with caFile, not by turning checks off.
        const servername = opts.servername ?? ((0, node_net_1.isIP)(host) ? undefined : host);
        tls = { minVersion: "TLSv1.2", rejectUnauthorized: true, servername };
        if (opts.caFile !== undefined) {
            try {
                tls.ca = (0, node_fs_1.readFileSync)(opts.caFile);
            }
            catch (e) {
                throw new errors_1.ClientError(`reading CA file ${opts.caFile}: ${e.message}`, { cause: e });
            }
        }
        if (typeof opts.tls === "object")
            tls = { ...tls, ...opts.tls };
    }
    const minMs = positive(opts.backoff?.minMs, 50, "backoff.minMs");
    const maxMs = positive(opts.backoff?.maxMs, 5000, "backoff.maxMs");
    if (minMs > maxMs)
        throw new errors_1.ClientError(`backoff.minMs (${minMs}) is above backoff.maxMs (${maxMs})`);
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
