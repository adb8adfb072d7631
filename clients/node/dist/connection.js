"use strict";
/**
 * One pipelined connection: TCP (optionally TLS), handshake, AUTH, frames.
 *
 * Requests are written as they come (those of one tick in a single write,
 * by corking the socket) and the server answers them in order (SPEC.md §6),
 * so replies are matched to a FIFO of pending calls. Every failure of the
 * socket fails every call in flight with ConnectionError and the connection
 * is never used again: its framing is unknown, and a request that was
 * written may or may not have been applied, so nothing is retried here.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.Connection = void 0;
const net = require("node:net");
const tls = require("node:tls");
const codec_1 = require("./codec");
const errors_1 = require("./errors");
const protocol_1 = require("./protocol");
/** What a server sent instead of its hello: an error frame, or nonsense. */
function helloError(data) {
    const length = data.readUInt32BE(0);
    if (length === 0 || data.length < 4 + length)
        return new errors_1.ProtocolError("the server did not answer with a sessiond hello");
    const r = new codec_1.Reader(data.subarray(4, 4 + length));
    try {
        return (0, protocol_1.parseError)(r.u8("code"), r);
    }
    catch (e) {
        if (e instanceof codec_1.DecodeError)
            return new errors_1.ProtocolError("the server did not answer with a sessiond hello");
        throw e;
    }
}
class Connection {
    socket;
    opts;
    /** The server's hello; set once `open` resolves. */
    hello;
    /** Set once the connection must not take new calls (failed, closing or closed). */
    broken = false;
    /** Called once when the connection is gone, for the pool. */
    onGone;
    /**
     * A background connection (a near cache's, whose EVENTS_READ is always
     * waiting) never keeps the process alive, even with a call in flight.
     */
    background = false;
    reader = new codec_1.FrameReader(protocol_1.MAX_RESPONSE);
    /** Pending calls in the order they were written; `head` skips answered ones without shifting. */
    pending = [];
    head = 0;
    corked = false;
    timer;
    lastError;
    closed;
    constructor(socket, opts) {
        this.socket = socket;
        this.opts = opts;
        socket.setNoDelay(true);
        this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
        socket.on("error", (err) => {
            this.lastError = err;
        });
        socket.once("close", () => this.gone());
    }
    /** Connect, handshake and authenticate, all within `connectTimeoutMs`. */
    static open(opts) {
        const where = `${opts.host}:${opts.port}`;
        const socket = opts.tls
            ? tls.connect({ ...opts.tls, host: opts.host, port: opts.port })
            : net.connect({ host: opts.host, port: opts.port });
        const conn = new Connection(socket, opts);
        return new Promise((resolve, reject) => {
            let settled = false;
            const fail = (err) => {
                if (settled)
                    return;
                settled = true;
                clearTimeout(timer);
                conn.destroy(err);
                reject(err);
            };
            const timer = setTimeout(() => fail(new errors_1.TimeoutError(`connecting to ${where} timed out after ${opts.connectTimeoutMs} ms`)), opts.connectTimeoutMs);
            socket.once(opts.tls ? "secureConnect" : "connect", () => socket.write((0, protocol_1.clientHello)()));
            socket.once("close", () => {
                // An error frame that replaced the hello says why (BUSY, BAD_HANDSHAKE, ...).
                fail(conn.reader.length >= 4 ? helloError(conn.reader.peek(conn.reader.length)) : conn.connectError(where));
            });
            const onHelloData = (chunk) => {
                conn.reader.push(chunk);
                const first = conn.reader.peek(4);
                if (first === undefined)
                    return;
                if (!first.equals(protocol_1.MAGIC)) {
                    // Not the magic: the length of an error frame replacing the hello (§5).
                    const need = 4 + first.readUInt32BE(0);
                    if (need > 4 + 65536)
                        fail(new errors_1.ProtocolError(`${where} did not answer with a sessiond hello`));
                    else if (conn.reader.length >= need)
                        fail(helloError(conn.reader.peek(need)));
                    return;
                }
                const hello = conn.reader.take(16);
                if (hello === undefined)
                    return;
                socket.off("data", onHelloData);
                socket.on("data", (c) => conn.onData(c));
                try {
                    conn.hello = (0, protocol_1.parseServerHello)(hello);
                }
                catch (e) {
                    return fail(e);
                }
                const ready = () => {
                    if (settled)
                        return;
                    settled = true;
                    clearTimeout(timer);
                    conn.idle();
                    resolve(conn);
                };
                if (opts.token !== undefined && conn.hello.authRequired)
                    conn.send((0, protocol_1.auth)(opts.token)).then(ready, fail);
                else
                    ready();
            };
            socket.on("data", onHelloData);
        });
    }
    connectError(where) {
        const err = this.lastError;
        if (err instanceof errors_1.SessiondError)
            return err;
        if (err && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME|ERR_TLS|ERR_SSL/.test(err.code ?? "")) {
            return new errors_1.ConnectionError(`TLS verification of ${where} failed: ${err.message}`, { cause: err });
        }
        if (err)
            return new errors_1.ConnectionError(`cannot connect to ${where}: ${err.message}`, { cause: err });
        return new errors_1.ConnectionError(`${where} closed the connection during the handshake`);
    }
    /** Calls written and not yet answered. */
    get inFlight() {
        return this.pending.length - this.head;
    }
    /** Send one request; resolves with its reply's value or rejects with its error. */
    send(call) {
        if (this.broken)
            return Promise.reject(new errors_1.ConnectionError(`the connection to ${this.opts.host}:${this.opts.port} is closed`));
        // A frame above max frame would make the server close the connection;
        // refusing it here keeps the connection, with the error the server would send.
        if (this.hello && call.bodyLength > this.hello.maxFrame) {
            const max = this.hello.maxFrame;
            return Promise.reject(new errors_1.FrameTooLarge(`request of ${call.bodyLength} bytes; the server's limit is ${max}`, { max }));
        }
        return new Promise((resolve, reject) => {
            this.pending.push({ call, resolve: resolve, reject, deadline: performance.now() + this.opts.requestTimeoutMs + call.waitMs });
            if (this.inFlight === 1)
                this.busy();
            if (!this.corked) {
                // Requests made in the same tick leave in one write.
                this.corked = true;
                this.socket.cork();
                process.nextTick(() => {
                    this.corked = false;
                    this.socket.uncork();
                });
            }
            this.socket.write(call.frame);
        });
    }
    onData(chunk) {
        this.reader.push(chunk);
        for (;;) {
            let body;
            try {
                body = this.reader.next();
            }
            catch (e) {
                return this.destroy(new errors_1.ProtocolError(e.message));
            }
            if (body === undefined)
                return;
            if (this.inFlight === 0)
                return this.destroy(new errors_1.ProtocolError("the server sent a frame nobody asked for"));
            const p = this.pending[this.head];
            this.pending[this.head++] = undefined;
            if (this.head > 1024 && this.head * 2 > this.pending.length) {
                this.pending = this.pending.slice(this.head);
                this.head = 0;
            }
            if (this.inFlight === 0)
                this.idle();
            try {
                p.resolve(p.call.parse(body));
            }
            catch (e) {
                p.reject(e);
                if (e instanceof errors_1.ServerError && errors_1.CLOSING_CODES.has(e.code))
                    this.broken = true; // the server closes next
                if (e instanceof errors_1.ProtocolError)
                    return this.destroy(new errors_1.ConnectionError(`dropped after a protocol error: ${e.message}`, { cause: e }));
            }
        }
    }
    /** Something is in flight: keep the process alive for it (unless in the background) and watch the deadline. */
    busy() {
        if (!this.background)
            this.socket.ref();
        this.arm();
    }
    /** Nothing in flight: an idle connection does not keep the process alive. */
    idle() {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.socket.unref();
        if (this.broken && !this.socket.destroyed)
            this.socket.end();
    }
    /**
     * One timer per connection, for the oldest call: replies come in order,
     * so no later call can time out before it. When it fires early (the
     * oldest was answered meanwhile) it re-arms for the new oldest.
     */
    arm() {
        if (this.timer !== undefined || this.inFlight === 0)
            return;
        const wait = Math.max(0, this.pending[this.head].deadline - performance.now());
        this.timer = setTimeout(() => {
            this.timer = undefined;
            if (this.inFlight === 0)
                return;
            const oldest = this.pending[this.head];
            if (oldest.deadline > performance.now())
                return this.arm();
            // Its reply may still come, but everything behind it waits on it:
            // give up on the connection rather than on one call.
            this.pending[this.head++] = undefined;
            oldest.reject(new errors_1.TimeoutError(`no reply from ${this.opts.host}:${this.opts.port} within ${this.opts.requestTimeoutMs} ms`));
            this.destroy(new errors_1.ConnectionError("the connection was dropped after a request timed out"));
        }, wait);
        if (this.background)
            this.timer.unref();
    }
    /** Fail every call in flight and close the socket at once. */
    destroy(err) {
        if (err)
            this.lastError ??= err;
        this.broken = true;
        this.socket.destroy();
        this.gone();
    }
    /** Take no new calls, let those in flight finish, then close. */
    close() {
        this.broken = true;
        if (this.inFlight === 0)
            this.socket.end();
        return this.closed;
    }
    gone() {
        this.broken = true;
        clearTimeout(this.timer);
        this.timer = undefined;
        const failed = this.pending.slice(this.head);
        this.pending = [];
        this.head = 0;
        const cause = this.lastError;
        for (const p of failed) {
            p.reject(cause instanceof errors_1.SessiondError && !(cause instanceof errors_1.ServerError)
                ? cause
                : new errors_1.ConnectionError(`the connection to ${this.opts.host}:${this.opts.port} was lost`, { cause }));
        }
        const onGone = this.onGone;
        this.onGone = undefined;
        onGone?.();
    }
}
exports.Connection = Connection;
