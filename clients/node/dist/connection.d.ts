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
import type { ResolvedOptions } from "./options";
import { type Call } from "./protocol";
import type { ServerHello } from "./types";
export declare class Connection {
    private readonly socket;
    private readonly opts;
    /** The server's hello; set once `open` resolves. */
    hello: ServerHello;
    /** Set once the connection must not take new calls (failed, closing or closed). */
    broken: boolean;
    /** Called once when the connection is gone, for the pool. */
    onGone: (() => void) | undefined;
    /**
     * A background connection (a near cache's, whose EVENTS_READ is always
     * waiting) never keeps the process alive, even with a call in flight.
     */
    background: boolean;
    private readonly reader;
    /** Pending calls in the order they were written; `head` skips answered ones without shifting. */
    private pending;
    private head;
    private corked;
    private timer;
    private lastError;
    private closed;
    private constructor();
    /** Connect, handshake and authenticate, all within `connectTimeoutMs`. */
    static open(opts: ResolvedOptions): Promise<Connection>;
    private connectError;
    /** Calls written and not yet answered. */
    get inFlight(): number;
    /** Send one request; resolves with its reply's value or rejects with its error. */
    send<T>(call: Call<T>): Promise<T>;
    private onData;
    /** Something is in flight: keep the process alive for it (unless in the background) and watch the deadline. */
    private busy;
    /** Nothing in flight: an idle connection does not keep the process alive. */
    private idle;
    /**
     * One timer per connection, for the oldest call: replies come in order,
     * so no later call can time out before it. When it fires early (the
     * oldest was answered meanwhile) it re-arms for the new oldest.
     */
    private arm;
    /** Fail every call in flight and close the socket at once. */
    destroy(err?: Error): void;
    /** Take no new calls, let those in flight finish, then close. */
    close(): Promise<void>;
    private gone;
}
