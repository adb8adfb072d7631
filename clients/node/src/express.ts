/**
 * An express-session store on sessiond, with what sessiond adds: a user's
 * sessions listed as devices (`listByOwner`) and ended at once, all but the
 * current one if asked (`destroyOwner`).
 *
 * - **Ids.** express-session picks the cookie's id before the store sees
 *   the session, so give it sessiond ids: `genid: store.genid`. Then the id
 *   in the cookie, in `req.sessionID` and in `listByOwner` is one and the
 *   same. Any other sid (the default 32-character one) is mapped to a
 *   sessiond id by hashing it (SHA-256, first 16 bytes): it works, but the
 *   ids that `listByOwner` shows are then not the cookie's; `destroy` and
 *   `destroyOwner({ keep })` accept either form.
 * - **Owners.** The owner is a field of the session (`ownerField`, default
 *   "userId"; a dotted path such as "passport.user" reaches into objects),
 *   or what the `owner` function returns. A session without one is its own
 *   owner, "anonymous:" + its id, as the other sessiond stores file them:
 *   visitors never share an owner, so no owner's index grows with traffic.
 *   sessiond cannot change a session's owner, so when a save names another
 *   owner (a login without `regenerate`) the session is re-created under the
 *   new owner with the same id. Calling `req.session.regenerate` at login,
 *   as express-session advises against fixation, gives it a new id instead.
 * - **Expiry.** The cookie's age (`cookie.maxAge`, or what is left until
 *   `cookie.expires`) becomes the session's idle timeout, in whole seconds,
 *   and no absolute lifetime unless `lifetimeSecs` is set; `touch` and every
 *   save slide it, as express-session slides the cookie. A cookie without an
 *   expiry (a browser-session cookie) gets `ttlSecs` (default one day).
 * - **Ended sessions stay ended.** A save for a session that was loaded in
 *   this request but has since ended (revoked from another device, expired)
 *   is dropped, not written back: the next request is anonymous.
 * - **Near cache.** Given a client made with `nearCache`, the store reads
 *   sessions through it: a request whose session is unchanged is answered
 *   from memory, and express-session's touch for it is left to the cache's
 *   toucher (one TOUCH per session a second) instead of a round trip. A
 *   revoke from any app server (a strict cache) or within a moment
 *   (relaxed) signs the session out here too.
 * - **all, length, clear.** sessiond lists sessions by owner, not the
 *   whole store, so these cover the sessions this store object created
 *   since it was made (in this process; the newest `trackLimit` of them),
 *   and `clear` ends only those.
 */

import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";

import type { Client } from "./client";
import { IdTaken, NotFound } from "./errors";
import { generateSessionId, idToText, isSessionId } from "./ids";
import type { Labels, OwnerLimit, SessionInfo } from "./types";

/** The part of express-session's cookie that sets the expiry. */
export interface SessionCookie {
  originalMaxAge?: number | null;
  expires?: Date | string | null;
}

/**
 * What express-session keeps in a session: its cookie and the app's fields.
 * No index signature, so that @types/express-session's SessionData (an
 * interface apps extend) is assignable to it.
 */
export interface SessionData {
  cookie?: SessionCookie | null;
}

/** A session as the option callbacks see it: any field may be read. */
export type AnySession = SessionData & Record<string, any>;

// Callback shapes as @types/express-session declares them, so that a
// SessiondStore is assignable to its Store type without depending on it.
/* eslint-disable @typescript-eslint/no-explicit-any */
type Done = (err?: any) => void;
/** Session values are `any` here: they are express-session's objects, typed by its own declarations. */
type Got<T> = (err: any, value?: T) => void;
type StoreMethod = (this: unknown, ...args: never[]) => unknown;

/** The part of `require("express-session")` the store needs: its Store base. */
export interface SessionModule {
  Store: { prototype: { regenerate: StoreMethod; load: StoreMethod; createSession: StoreMethod } };
}

export interface SessiondStoreOptions {
  client: Client;
  /** The express-session module itself (`require("express-session")`). */
  session: SessionModule;
  /** Where the owner is in the session (default "userId"; dots reach into objects). */
  ownerField?: string;
  /** The owner of a session, instead of `ownerField`; null/undefined/"" for none. */
  owner?: (sess: AnySession) => string | number | null | undefined;
  /** Prefix of the owner of a session without one (default "anonymous:"). */
  anonymousPrefix?: string;
  /** Idle timeout for a cookie without maxAge or expires, in seconds (default 86400). */
  ttlSecs?: number;
  /** Absolute lifetime of each session in seconds (default 0: none, the cookie's age rules). */
  lifetimeSecs?: number;
  /**
   * Labels for a new session (shown by `listByOwner`), e.g. its user agent
   * kept in the session. They are fixed when the session is created: later
   * changes are not written back.
   */
  labels?: (sess: AnySession) => Labels | undefined;
  /** A per-owner session cap applied when a session is created. */
  limit?: OwnerLimit;
  /** How many created sessions `all`/`length`/`clear` remember, newest first (default 100000). */
  trackLimit?: number;
  /** How the session is turned into bytes (default JSON). */
  serializer?: { stringify(sess: SessionData): string; parse(text: string): AnySession };
}

/** What is stored of a session that a save may have to change, as far as this process last saw it. */
interface Stored {
  owner: string;
  idleSecs: number;
}

const TEN_YEARS = 10 * 365 * 24 * 3600;

export class SessiondStore extends EventEmitter {
  readonly client: Client;
  /** Give this to express-session as `genid`: fresh sessiond ids. */
  readonly genid = (): string => generateSessionId();

  private readonly base: SessionModule["Store"]["prototype"];
  private readonly ownerOfSession: (sess: AnySession) => unknown;
  private readonly anonymousPrefix: string;
  private readonly ttlSecs: number;
  private readonly lifetimeSecs: number;
  private readonly labelsOf: (sess: AnySession) => Labels;
  private readonly limit: OwnerLimit | undefined;
  private readonly trackLimit: number;
  private readonly serializer: NonNullable<SessiondStoreOptions["serializer"]>;
  /** Objects get() returned, until express-session wraps them in createSession. */
  private readonly fetched = new WeakMap<object, Stored>();
  /** Sessions of this request known to be stored (loaded or saved), with what was stored. */
  private readonly stored = new WeakMap<object, Stored>();
  /** Sessions this store created: sessiond id -> express sid (for all/length/clear). */
  private readonly created = new Map<string, string>();

  constructor(options: SessiondStoreOptions) {
    super();
    if (!options?.client) throw new TypeError("SessiondStore needs { client: new Client(...) }");
    if (!options.session?.Store?.prototype?.createSession) {
      throw new TypeError('SessiondStore needs { session: require("express-session") } to build sessions as express-session does');
    }
    this.client = options.client;
    this.base = options.session.Store.prototype;
    const path = (options.ownerField ?? "userId").split(".");
    this.ownerOfSession = options.owner ?? ((sess) => path.reduce<unknown>((v, k) => (v == null ? undefined : (v as AnySession)[k]), sess));
    this.anonymousPrefix = options.anonymousPrefix ?? "anonymous:";
    this.ttlSecs = options.ttlSecs ?? 86400;
    this.lifetimeSecs = options.lifetimeSecs ?? 0;
    this.labelsOf = (sess) => options.labels?.(sess) ?? {};
    this.limit = options.limit;
    this.trackLimit = options.trackLimit ?? 100_000;
    this.serializer = options.serializer ?? JSON;
  }

  // --- ids, owners, expiry ---------------------------------------------------

  /** The sessiond id of an express-session sid: itself if it is one, else derived from it. */
  sessiondId(sid: string): string {
    if (isSessionId(sid)) return sid;
    return idToText(createHash("sha256").update("express-session\0").update(String(sid)).digest().subarray(0, 16));
  }

  /** The owner a session is filed under. */
  ownerOf(sid: string, sess: SessionData): string {
    const named = this.ownerOfSession(sess as AnySession);
    if (named === undefined || named === null || named === "") return this.anonymousPrefix + this.sessiondId(sid);
    return String(named);
  }

  /** The idle timeout the session's cookie asks for, in whole seconds; 0 if it has expired. */
  idleSecsOf(sess: SessionData): number {
    const cookie = sess.cookie;
    let ms: number;
    if (cookie && typeof cookie.originalMaxAge === "number") ms = cookie.originalMaxAge;
    else if (cookie && cookie.expires) ms = new Date(cookie.expires).getTime() - Date.now();
    else return this.ttlSecs;
    if (!(ms > 0)) return 0;
    return Math.min(TEN_YEARS, Math.ceil(ms / 1000));
  }

  // --- the Store API -----------------------------------------------------------

  get(sid: string, cb: Got<any>): void {
    settle(this.fetch(sid), cb);
  }

  set(sid: string, sess: SessionData, cb?: Done): void {
    settle(this.save(sid, sess), cb);
  }

  touch(sid: string, sess: SessionData, cb?: Done): void {
    settle(this.slide(sid, sess), cb);
  }

  destroy(sid: string, cb?: Done): void {
    const id = this.sessiondId(sid);
    this.created.delete(id);
    settle(this.client.delete(id).then(() => undefined), cb);
  }

  /** The sessions this store created that are still alive, by sid. */
  all(cb: Got<any>): void {
    settle(this.alive().then((found) => Object.fromEntries(found)), cb);
  }

  /** How many sessions this store created are still alive. */
  length(cb: Got<number>): void {
    settle(this.alive().then((found) => found.length), cb);
  }

  /** End every session this store created (and no other). */
  clear(cb?: Done): void {
    const ids = [...this.created.keys()];
    this.created.clear();
    settle(Promise.all(ids.map((id) => this.client.delete(id))).then(() => undefined), cb);
  }

  // express-session's own Store methods, run on this store, so that sessions
  // are built as express-session builds them.
  regenerate(req: any, fn: Done): void {
    this.base.regenerate.call(this, req as never, fn as never);
  }

  load(sid: string, fn: Got<any>): void {
    this.base.load.call(this, sid as never, fn as never);
  }

  /** Returns express-session's Session (typed loosely: it is express-session's type, not ours). */
  createSession(req: any, sess: SessionData): any {
    const known = this.fetched.get(sess);
    const session = this.base.createSession.call(this, req as never, sess as never);
    if (known && typeof session === "object" && session !== null) this.stored.set(session, known);
    return session;
  }

  // --- sessiond's additions ----------------------------------------------------

  /** The owner's live sessions, most recently seen first: a devices list. */
  listByOwner(owner: string | number): Promise<SessionInfo[]> {
    return this.client.list(String(owner));
  }

  /** End the owner's sessions, except `keep` (a sid or sessiond id); resolves with how many ended. */
  destroyOwner(owner: string | number, options: { keep?: string } = {}): Promise<number> {
    const keep = options.keep === undefined ? undefined : this.sessiondId(options.keep);
    return this.client.deleteOwner(String(owner), { keep });
  }

  // --- the work behind the callbacks ---------------------------------------------

  /** The session a request loads (`forRequest`), or one `all` lists (never touched). */
  private async fetch(sid: string, forRequest = true): Promise<SessionData | null> {
    if (typeof sid !== "string") return null;
    let found;
    try {
      // A request's session with a near cache: `get` (a hit, or a GET that
      // touches) instead of `peek`; its touch replaces express-session's,
      // which `slide` then leaves to the cache's toucher.
      const id = this.sessiondId(sid);
      found = await (forRequest && this.client.nearCache ? this.client.get(id) : this.client.peek(id));
    } catch (e) {
      if (e instanceof NotFound) return null;
      throw e;
    }
    const sess = this.serializer.parse(found.data.toString("utf8"));
    const expires = sess.cookie?.expires;
    if (expires && new Date(expires).getTime() <= Date.now()) return null;
    this.fetched.set(sess, { owner: found.owner.toString("utf8"), idleSecs: found.info.idleSecs });
    return sess;
  }

  private async save(sid: string, sess: SessionData): Promise<void> {
    const id = this.sessiondId(sid);
    const idleSecs = this.idleSecsOf(sess);
    if (idleSecs === 0) {
      // The cookie has expired: so has the session.
      this.stored.delete(sess);
      this.created.delete(id);
      await this.client.delete(id);
      return;
    }
    const labels = this.labelsOf(sess as AnySession);
    const wanted: Stored = { owner: this.ownerOf(sid, sess), idleSecs };
    const data = this.serializer.stringify(sess);
    let known = this.stored.get(sess);
    if (known === undefined) {
      // A new session (express-session generated it this request), or a
      // caller's own object: create it, or find what is stored.
      try {
        await this.client.create(wanted.owner, { id, data, labels, idleSecs, lifetimeSecs: this.lifetimeSecs, limit: this.limit });
        this.remember(id, sid, sess, wanted);
        return;
      } catch (e) {
        if (!(e instanceof IdTaken)) throw e;
      }
      const current = await this.client.peek(id).catch((e) => {
        if (e instanceof NotFound) return undefined;
        throw e;
      });
      if (current === undefined) return this.save(sid, sess); // ended in between: create it
      known = { owner: current.owner.toString("utf8"), idleSecs: current.info.idleSecs };
    }
    if (known.owner === wanted.owner && known.idleSecs === idleSecs) {
      try {
        await this.client.update(id, data);
      } catch (e) {
        if (!(e instanceof NotFound)) throw e;
        this.stored.delete(sess); // ended meanwhile: it stays ended
      }
      return;
    }
    // Another owner (a login) or expiry: sessiond fixes both at creation, so
    // the session is created again under the same id, if it still exists.
    if (!(await this.client.delete(id))) {
      this.stored.delete(sess);
      return;
    }
    await this.client.create(wanted.owner, { id, data, labels, idleSecs, lifetimeSecs: this.lifetimeSecs, limit: this.limit });
    this.remember(id, sid, sess, wanted);
  }

  private remember(id: string, sid: string, sess: SessionData, stored: Stored): void {
    this.stored.set(sess, stored);
    this.created.delete(id);
    this.created.set(id, sid);
    // Bounded memory: the oldest entries go first (a Map iterates in insertion order).
    for (const oldest of this.created.keys()) {
      if (this.created.size <= this.trackLimit) break;
      this.created.delete(oldest);
    }
  }

  private async slide(sid: string, sess: SessionData): Promise<void> {
    const known = this.stored.get(sess);
    // A cookie whose age changed (say "remember me" at login) needs a new idle timeout.
    if (known !== undefined && known.idleSecs !== this.idleSecsOf(sess)) return this.save(sid, sess);
    const id = this.sessiondId(sid);
    if (this.client.nearCache?.touchSoon(id)) return;
    try {
      await this.client.touch(id);
    } catch (e) {
      if (!(e instanceof NotFound)) throw e;
    }
  }

  private async alive(): Promise<[string, SessionData][]> {
    const entries = [...this.created];
    const found = await Promise.all(entries.map(([id, sid]) => this.fetch(sid, false).then((sess) => [id, sid, sess] as const)));
    const out: [string, SessionData][] = [];
    for (const [id, sid, sess] of found) {
      if (sess === null) this.created.delete(id);
      else out.push([sid, sess]);
    }
    return out;
  }
}

/** Run a promise into a node-style callback (express-session's style). */
function settle<T>(promise: Promise<T>, cb?: Got<T>): void {
  promise.then(
    (value) => cb?.(null, value),
    (err) => (cb ? cb(err) : undefined),
  );
}
