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
import { EventEmitter } from "node:events";
import type { Client } from "./client";
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
type Done = (err?: any) => void;
/** Session values are `any` here: they are express-session's objects, typed by its own declarations. */
type Got<T> = (err: any, value?: T) => void;
type StoreMethod = (this: unknown, ...args: never[]) => unknown;
/** The part of `require("express-session")` the store needs: its Store base. */
export interface SessionModule {
    Store: {
        prototype: {
            regenerate: StoreMethod;
            load: StoreMethod;
            createSession: StoreMethod;
        };
    };
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
    serializer?: {
        stringify(sess: SessionData): string;
        parse(text: string): AnySession;
    };
}
export declare class SessiondStore extends EventEmitter {
    readonly client: Client;
    /** Give this to express-session as `genid`: fresh sessiond ids. */
    readonly genid: () => string;
    private readonly base;
    private readonly ownerOfSession;
    private readonly anonymousPrefix;
    private readonly ttlSecs;
    private readonly lifetimeSecs;
    private readonly labelsOf;
    private readonly limit;
    private readonly trackLimit;
    private readonly serializer;
    /** Objects get() returned, until express-session wraps them in createSession. */
    private readonly fetched;
    /** Sessions of this request known to be stored (loaded or saved), with what was stored. */
    private readonly stored;
    /** Sessions this store created: sessiond id -> express sid (for all/length/clear). */
    private readonly created;
    constructor(options: SessiondStoreOptions);
    /** The sessiond id of an express-session sid: itself if it is one, else derived from it. */
    sessiondId(sid: string): string;
    /** The owner a session is filed under. */
    ownerOf(sid: string, sess: SessionData): string;
    /** The idle timeout the session's cookie asks for, in whole seconds; 0 if it has expired. */
    idleSecsOf(sess: SessionData): number;
    get(sid: string, cb: Got<any>): void;
    set(sid: string, sess: SessionData, cb?: Done): void;
    touch(sid: string, sess: SessionData, cb?: Done): void;
    destroy(sid: string, cb?: Done): void;
    /** The sessions this store created that are still alive, by sid. */
    all(cb: Got<any>): void;
    /** How many sessions this store created are still alive. */
    length(cb: Got<number>): void;
    /** End every session this store created (and no other). */
    clear(cb?: Done): void;
    regenerate(req: any, fn: Done): void;
    load(sid: string, fn: Got<any>): void;
    /** Returns express-session's Session (typed loosely: it is express-session's type, not ours). */
    createSession(req: any, sess: SessionData): any;
    /** The owner's live sessions, most recently seen first: a devices list. */
    listByOwner(owner: string | number): Promise<SessionInfo[]>;
    /** End the owner's sessions, except `keep` (a sid or sessiond id); resolves with how many ended. */
    destroyOwner(owner: string | number, options?: {
        keep?: string;
    }): Promise<number>;
    /** The session a request loads (`forRequest`), or one `all` lists (never touched). */
    private fetch;
    private save;
    private remember;
    private slide;
    private alive;
}
export {};
