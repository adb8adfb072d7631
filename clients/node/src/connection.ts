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

import * as net from "node:net";
import * as tls from "node:tls";

import { DecodeError, FrameReader, Reader } from "./codec";
import { CLOSING_CODES, ConnectionError, FrameTooLarge, ProtocolError, ServerError, SessiondError, TimeoutError } from "./errors";
import type { ResolvedOptions } from "./options";
import { auth, type Call, clientHello, MAGIC, MAX_RESPONSE, parseError, parseServerHello } from "./protocol";
import type { ServerHello } from "./types";

interface Pending {
  call: Call<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  /** performance.now() by which the reply must have arrived. */
  deadline: number;
}

/** What a server sent instead of its hello: an error frame, or nonsense. */
function helloError(data: Buffer): SessiondError {
  const length = data.readUInt32BE(0);
  if (length === 0 || data.length < 4 + length) return new ProtocolError("the server did not answer with a sessiond hello");
  const r = new Reader(data.subarray(4, 4 + length));
  try {
    return parseError(r.u8("code"), r);
  } catch (e) {
    if (e instanceof DecodeError) return new ProtocolError("the server did not answer with a sessiond hello");
    throw e;
  }
}

export class Connection {
  /** The server's hello; set once `open` resolves. */
  hello!: ServerHello;
  /** Set once the connection must not take new calls (failed, closing or closed). */
  broken = false;
  /** Called once when the connection is gone, for the pool. */
  onGone: (() => void) | undefined;
  /**
   * A background connection (a near cache's, whose EVENTS_READ is always
   * waiting) never keeps the process alive, even with a call in flight.
   */
  background = false;

  private readonly reader = new FrameReader(MAX_RESPONSE);
  /** Pending calls in the order they were written; `head` skips answered ones without shifting. */
  private pending: Pending[] = [];
  private head = 0;
  private corked = false;
  private timer: NodeJS.Timeout | undefined;
  private lastError: Error | undefined;
  private closed: Promise<void>;

  private constructor(
    private readonly socket: net.Socket,
    private readonly opts: ResolvedOptions,
  ) {
    socket.setNoDelay(true);
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("error", (err) => {
      this.lastError = err;
    });
    socket.once("close", () => this.gone());
  }

  /** Connect, handshake and authenticate, all within `connectTimeoutMs`. */
  static open(opts: ResolvedOptions): Promise<Connection> {
    const where = `${opts.host}:${opts.port}`;
    const socket = opts.tls
      ? tls.connect({ ...opts.tls, host: opts.host, port: opts.port })
      : net.connect({ host: opts.host, port: opts.port });
    const conn = new Connection(socket, opts);
    return new Promise<Connection>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        conn.destroy(err);
        reject(err);
      };
      const timer = setTimeout(() => fail(new TimeoutError(`connecting to ${where} timed out after ${opts.connectTimeoutMs} ms`)), opts.connectTimeoutMs);

      socket.once(opts.tls ? "secureConnect" : "connect", () => socket.write(clientHello()));
      socket.once("close", () => {
        // An error frame that replaced the hello says why (BUSY, BAD_HANDSHAKE, ...).
        fail(conn.reader.length >= 4 ? helloError(conn.reader.peek(conn.reader.length)!) : conn.connectError(where));
      });
      const onHelloData = (chunk: Buffer): void => {
        conn.reader.push(chunk);
        const first = conn.reader.peek(4);
        if (first === undefined) return;
        if (!first.equals(MAGIC)) {
          // Not the magic: the length of an error frame replacing the hello (§5).
          const need = 4 + first.readUInt32BE(0);
          if (need > 4 + 65536) fail(new ProtocolError(`${where} did not answer with a sessiond hello`));
          else if (conn.reader.length >= need) fail(helloError(conn.reader.peek(need)!));
          return;
        }
        const hello = conn.reader.take(16);
        if (hello === undefined) return;
        socket.off("data", onHelloData);
        socket.on("data", (c: Buffer) => conn.onData(c));
        try {
          conn.hello = parseServerHello(hello);
        } catch (e) {
          return fail(e as Error);
        }
        const ready = (): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          conn.idle();
          resolve(conn);
        };
        if (opts.token !== undefined && conn.hello.authRequired) conn.send(auth(opts.token)).then(ready, fail);
        else ready();
      };
      socket.on("data", onHelloData);
    });
  }

  private connectError(where: string): SessiondError {
    const err = this.lastError as (Error & { code?: string }) | undefined;
    if (err instanceof SessiondError) return err;
    if (err && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME|ERR_TLS|ERR_SSL/.test(err.code ?? "")) {
      return new ConnectionError(`TLS verification of ${where} failed: ${err.message}`, { cause: err });
    }
    if (err) return new ConnectionError(`cannot connect to ${where}: ${err.message}`, { cause: err });
    return new ConnectionError(`${where} closed the connection during the handshake`);
  }

  /** Calls written and not yet answered. */
  get inFlight(): number {
    return this.pending.length - this.head;
  }

  /** Send one request; resolves with its reply's value or rejects with its error. */
  send<T>(call: Call<T>): Promise<T> {
    if (this.broken) return Promise.reject(new ConnectionError(`the connection to ${this.opts.host}:${this.opts.port} is closed`));
    // A frame above max frame would make the server close the connection;
    // refusing it here keeps the connection, with the error the server would send.
    if (this.hello && call.bodyLength > this.hello.maxFrame) {
      const max = this.hello.maxFrame;
      return Promise.reject(new FrameTooLarge(`request of ${call.bodyLength} bytes; the server's limit is ${max}`, { max }));
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ call, resolve: resolve as (v: unknown) => void, reject, deadline: performance.now() + this.opts.requestTimeoutMs + call.waitMs });
      if (this.inFlight === 1) this.busy();
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

  private onData(chunk: Buffer): void {
    this.reader.push(chunk);
    for (;;) {
      let body: Buffer | undefined;
      try {
        body = this.reader.next();
      } catch (e) {
        return this.destroy(new ProtocolError((e as Error).message));
      }
      if (body === undefined) return;
      if (this.inFlight === 0) return this.destroy(new ProtocolError("the server sent a frame nobody asked for"));
      const p = this.pending[this.head];
      this.pending[this.head++] = undefined as unknown as Pending;
      if (this.head > 1024 && this.head * 2 > this.pending.length) {
        this.pending = this.pending.slice(this.head);
        this.head = 0;
      }
      if (this.inFlight === 0) this.idle();
      try {
        p.resolve(p.call.parse(body));
      } catch (e) {
        p.reject(e as Error);
        if (e instanceof ServerError && CLOSING_CODES.has(e.code)) this.broken = true; // the server closes next
        if (e instanceof ProtocolError) return this.destroy(new ConnectionError(`dropped after a protocol error: ${e.message}`, { cause: e }));
      }
    }
  }

  /** Something is in flight: keep the process alive for it (unless in the background) and watch the deadline. */
  private busy(): void {
    if (!this.background) this.socket.ref();
    this.arm();
  }

  /** Nothing in flight: an idle connection does not keep the process alive. */
  private idle(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.socket.unref();
    if (this.broken && !this.socket.destroyed) this.socket.end();
  }

  /**
   * One timer per connection, for the oldest call: replies come in order,
   * so no later call can time out before it. When it fires early (the
   * oldest was answered meanwhile) it re-arms for the new oldest.
   */
  private arm(): void {
    if (this.timer !== undefined || this.inFlight === 0) return;
    const wait = Math.max(0, this.pending[this.head].deadline - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.inFlight === 0) return;
      const oldest = this.pending[this.head];
      if (oldest.deadline > performance.now()) return this.arm();
      // Its reply may still come, but everything behind it waits on it:
      // give up on the connection rather than on one call.
      this.pending[this.head++] = undefined as unknown as Pending;
      oldest.reject(new TimeoutError(`no reply from ${this.opts.host}:${this.opts.port} within ${this.opts.requestTimeoutMs} ms`));
      this.destroy(new ConnectionError("the connection was dropped after a request timed out"));
    }, wait);
    if (this.background) this.timer.unref();
  }

  /** Fail every call in flight and close the socket at once. */
  destroy(err?: Error): void {
    if (err) this.lastError ??= err;
    this.broken = true;
    this.socket.destroy();
    this.gone();
  }

  /** Take no new calls, let those in flight finish, then close. */
  close(): Promise<void> {
    this.broken = true;
    if (this.inFlight === 0) this.socket.end();
    return this.closed;
  }

  private gone(): void {
    this.broken = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const failed = this.pending.slice(this.head);
    this.pending = [];
    this.head = 0;
    const cause = this.lastError;
    for (const p of failed) {
      p.reject(
        cause instanceof SessiondError && !(cause instanceof ServerError)
          ? cause
          : new ConnectionError(`the connection to ${this.opts.host}:${this.opts.port} was lost`, { cause }),
      );
    }
    const onGone = this.onGone;
    this.onGone = undefined;
    onGone?.();
  }
}
