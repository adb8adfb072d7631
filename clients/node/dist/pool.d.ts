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
import type { ResolvedOptions } from "./options";
import type { Call } from "./protocol";
export interface PoolStats {
    /** Connections open now. */
    open: number;
    /** Connections being opened now. */
    connecting: number;
    /** Connections opened since the pool was made (a restart of the server shows here). */
    opened: number;
    /** Calls written and not yet answered. */
    inFlight: number;
    /** Connection attempts that failed in a row (0 once one succeeds). */
    failures: number;
}
export declare class Pool {
    private readonly opts;
    private readonly conns;
    private readonly connecting;
    private opened;
    private failures;
    private retryAt;
    private lastError;
    private closed;
    constructor(opts: ResolvedOptions);
    /**
     * Run one call on a pooled connection. When one is open the call is
     * written in this same tick, so that the next call sees its load.
     */
    run<T>(call: Call<T>): Promise<T>;
    private acquire;
    private connect;
    /** The wait after `failures` failures in a row: min * 2^n up to max, spread over its upper half. */
    delay(failures: number): number;
    stats(): PoolStats;
    /** Stop taking calls; let those in flight finish; close every connection. */
    close(): Promise<void>;
}
