"use strict";
/**
 * A pool of pipelined connections to one server.
 *
 * A call goes to an idle connection if there is one, else to the least
 * loaded one, pipelined behind the calls already in flight there; while
 * the pool is below its size, a busy pool opens one more connection in the
 * background. Connections that break leave the pool and are replaced on
 * demand: that is the reconnect. Attempts to connect after failures are
 * spaced by an exponential backoff; a call that finds no connection while
 * the next attempt is not yet due fails at once with the last error, so
 * callers never queue behind a server that is down.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.Pool = void 0;
const connection_1 = require("./connection");
const errors_1 = require("./errors");
class Pool {
    opts;
    conns = [];
    connecting = new Set();
    opened = 0;
    failures = 0;
    retryAt = 0;
    lastError;
    closed = false;
    constructor(opts) {
        this.opts = opts;
    }
    /**
     * Run one call on a pooled connection. When one is open the call is
     * written in this same tick, so that the next call sees its load.
     */
    run(call) {
        let conn;
        try {
            conn = this.acquire();
        }
        catch (e) {
            return Promise.reject(e);
        }
        return conn instanceof connection_1.Connection ? conn.send(call) : conn.then((c) => c.send(call));
    }
    acquire() {
        if (this.closed)
            throw new errors_1.ConnectionError("the client is closed");
        let best;
        for (const c of this.conns) {
            if (!c.broken && (best === undefined || c.inFlight < best.inFlight))
                best = c;
        }
        if (best !== undefined && best.inFlight === 0)
            return best;
        const room = this.conns.length + this.connecting.size < this.opts.poolSize;
        const due = performance.now() >= this.retryAt;
        if (best !== undefined) {
            if (room && due)
                this.connect().catch(() => undefined); // grow under load; failures only set the backoff
            return best;
        }
        const pending = this.connecting.values().next();
        if (!pending.done)
            return pending.value;
        if (!due) {
            const wait = Math.ceil(this.retryAt - performance.now());
            throw new errors_1.ConnectionError(`${this.opts.host}:${this.opts.port} is unreachable (next attempt in ${wait} ms): ${this.lastError?.message}`, { cause: this.lastError });
        }
        return this.connect();
    }
    connect() {
        const attempt = connection_1.Connection.open(this.opts).then((conn) => {
            this.failures = 0;
            this.retryAt = 0;
            this.opened++;
            if (this.closed) {
                void conn.close();
                throw new errors_1.ConnectionError("the client is closed");
            }
            this.conns.push(conn);
            conn.onGone = () => {
                const i = this.conns.indexOf(conn);
                if (i >= 0)
                    this.conns.splice(i, 1);
            };
            return conn;
        }, (err) => {
            this.lastError = err;
            this.retryAt = performance.now() + this.delay(this.failures++);
            throw err;
        });
        this.connecting.add(attempt);
        const done = () => void this.connecting.delete(attempt);
        attempt.then(done, done);
        return attempt;
    }
    /** The wait after `failures` failures in a row: min * 2^n up to max, spread over its upper half. */
    delay(failures) {
        const { minMs, maxMs } = this.opts.backoff;
        const full = Math.min(maxMs, minMs * 2 ** Math.min(failures, 30));
        return full / 2 + Math.random() * (full / 2);
    }
    stats() {
        return {
            open: this.conns.length,
            connecting: this.connecting.size,
            opened: this.opened,
            inFlight: this.conns.reduce((n, c) => n + c.inFlight, 0),
            failures: this.failures,
        };
    }
    /** Stop taking calls; let those in flight finish; close every connection. */
    async close() {
        this.closed = true;
        await Promise.allSettled([...this.connecting]);
        await Promise.all(this.conns.map((c) => c.close()));
    }
}
exports.Pool = Pool;
