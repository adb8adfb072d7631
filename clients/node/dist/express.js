"use strict";
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
Object.defineProperty(exports, "__esModule", { value: true });
exports.SessiondStore = void 0;
const node_crypto_1 = require("node:crypto");
const node_events_1 = require("node:events");
const errors_1 = require("./errors");
const ids_1 = require("./ids");
const TEN_YEARS = 10 * 365 * 24 * 3600;
class SessiondStore extends node_events_1.EventEmitter {
    client;
    /** Give this to express-session as `genid`: fresh sessiond ids. */
    genid = () => (0, ids_1.generateSessionId)();
    base;
    ownerOfSession;
    anonymousPrefix;
    ttlSecs;
    lifetimeSecs;
    labelsOf;
    limit;
    trackLimit;
    serializer;
    /** Objects get() returned, until express-session wraps them in createSession. */
    fetched = new WeakMap();
    /** Sessions of this request known to be stored (loaded or saved), with what was stored. */
    stored = new WeakMap();
    /** Sessions this store created: sessiond id -> express sid (for all/length/clear). */
    created = new Map();
    constructor(options) {
        super();
        if (!options?.client)
            throw new TypeError("SessiondStore needs { client: new Client(...) }");
        if (!options.session?.Store?.prototype?.createSession) {
            throw new TypeError('SessiondStore needs { session: require("express-session") } to build sessions as express-session does');
        }
        this.client = options.client;
        this.base = options.session.Store.prototype;
        const path = (options.ownerField ?? "userId").split(".");
        this.ownerOfSession = options.owner ?? ((sess) => path.reduce((v, k) => (v == null ? undefined : v[k]), sess));
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
    sessiondId(sid) {
        if ((0, ids_1.isSessionId)(sid))
            return sid;
        return (0, ids_1.idToText)((0, node_crypto_1.createHash)("sha256").update("express-session\0").update(String(sid)).digest().subarray(0, 16));
    }
    /** The owner a session is filed under. */
    ownerOf(sid, sess) {
        const named = this.ownerOfSession(sess);
        if (named === undefined || named === null || named === "")
            return this.anonymousPrefix + this.sessiondId(sid);
        return String(named);
    }
    /** The idle timeout the session's cookie asks for, in whole seconds; 0 if it has expired. */
    idleSecsOf(sess) {
        const cookie = sess.cookie;
        let ms;
        if (cookie && typeof cookie.originalMaxAge === "number")
            ms = cookie.originalMaxAge;
        else if (cookie && cookie.expires)
            ms = new Date(cookie.expires).getTime() - Date.now();
        else
            return this.ttlSecs;
        if (!(ms > 0))
            return 0;
        return Math.min(TEN_YEARS, Math.ceil(ms / 1000));
    }
    // --- the Store API -----------------------------------------------------------
    get(sid, cb) {
        settle(this.fetch(sid), cb);
    }
    set(sid, sess, cb) {
        settle(this.save(sid, sess), cb);
    }
    touch(sid, sess, cb) {
        settle(this.slide(sid, sess), cb);
    }
    destroy(sid, cb) {
        const id = this.sessiondId(sid);
        this.created.delete(id);
        settle(this.client.delete(id).then(() => undefined), cb);
    }
    /** The sessions this store created that are still alive, by sid. */
    all(cb) {
        settle(this.alive().then((found) => Object.fromEntries(found)), cb);
    }
    /** How many sessions this store created are still alive. */
    length(cb) {
        settle(this.alive().then((found) => found.length), cb);
    }
    /** End every session this store created (and no other). */
    clear(cb) {
        const ids = [...this.created.keys()];
        this.created.clear();
        settle(Promise.all(ids.map((id) => this.client.delete(id))).then(() => undefined), cb);
    }
    // express-session's own Store methods, run on this store, so that sessions
    // are built as express-session builds them.
    regenerate(req, fn) {
        this.base.regenerate.call(this, req, fn);
    }
    load(sid, fn) {
        this.base.load.call(this, sid, fn);
    }
    /** Returns express-session's Session (typed loosely: it is express-session's type, not ours). */
    createSession(req, sess) {
        const known = this.fetched.get(sess);
        const session = this.base.createSession.call(this, req, sess);
        if (known && typeof session === "object" && session !== null)
            this.stored.set(session, known);
        return session;
    }
    // --- sessiond's additions ----------------------------------------------------
    /** The owner's live sessions, most recently seen first: a devices list. */
    listByOwner(owner) {
        return this.client.list(String(owner));
    }
    /** End the owner's sessions, except `keep` (a sid or sessiond id); resolves with how many ended. */
    destroyOwner(owner, options = {}) {
        const keep = options.keep === undefined ? undefined : this.sessiondId(options.keep);
        return this.client.deleteOwner(String(owner), { keep });
    }
    // --- the work behind the callbacks ---------------------------------------------
    /** The session a request loads (`forRequest`), or one `all` lists (never touched). */
    async fetch(sid, forRequest = true) {
        if (typeof sid !== "string")
            return null;
        let found;
        try {
            // A request's session with a near cache: `get` (a hit, or a GET that
            // touches) instead of `peek`; its touch replaces express-session's,
            // which `slide` then leaves to the cache's toucher.
            const id = this.sessiondId(sid);
            found = await (forRequest && this.client.nearCache ? this.client.get(id) : this.client.peek(id));
        }
        catch (e) {
            if (e instanceof errors_1.NotFound)
                return null;
            throw e;
        }
        const sess = this.serializer.parse(found.data.toString("utf8"));
        const expires = sess.cookie?.expires;
        if (expires && new Date(expires).getTime() <= Date.now())
            return null;
        this.fetched.set(sess, { owner: found.owner.toString("utf8"), idleSecs: found.info.idleSecs });
        return sess;
    }
    async save(sid, sess) {
        const id = this.sessiondId(sid);
        const idleSecs = this.idleSecsOf(sess);
        if (idleSecs === 0) {
            // The cookie has expired: so has the session.
            this.stored.delete(sess);
            this.created.delete(id);
            await this.client.delete(id);
            return;
        }
        const labels = this.labelsOf(sess);
        const wanted = { owner: this.ownerOf(sid, sess), idleSecs };
        const data = this.serializer.stringify(sess);
        let known = this.stored.get(sess);
        if (known === undefined) {
            // A new session (express-session generated it this request), or a
            // caller's own object: create it, or find what is stored.
            try {
                await this.client.create(wanted.owner, { id, data, labels, idleSecs, lifetimeSecs: this.lifetimeSecs, limit: this.limit });
                this.remember(id, sid, sess, wanted);
                return;
            }
            catch (e) {
                if (!(e instanceof errors_1.IdTaken))
                    throw e;
            }
            const current = await this.client.peek(id).catch((e) => {
                if (e instanceof errors_1.NotFound)
                    return undefined;
                throw e;
            });
            if (current === undefined)
                return this.save(sid, sess); // ended in between: create it
            known = { owner: current.owner.toString("utf8"), idleSecs: current.info.idleSecs };
        }
        if (known.owner === wanted.owner && known.idleSecs === idleSecs) {
            try {
                await this.client.update(id, data);
            }
            catch (e) {
                if (!(e instanceof errors_1.NotFound))
                    throw e;
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
    remember(id, sid, sess, stored) {
        this.stored.set(sess, stored);
        this.created.delete(id);
        this.created.set(id, sid);
        // Bounded memory: the oldest entries go first (a Map iterates in insertion order).
        for (const oldest of this.created.keys()) {
            if (this.created.size <= this.trackLimit)
                break;
            this.created.delete(oldest);
        }
    }
    async slide(sid, sess) {
        const known = this.stored.get(sess);
        // A cookie whose age changed (say "remember me" at login) needs a new idle timeout.
        if (known !== undefined && known.idleSecs !== this.idleSecsOf(sess))
            return this.save(sid, sess);
        const id = this.sessiondId(sid);
        if (this.client.nearCache?.touchSoon(id))
            return;
        try {
            await this.client.touch(id);
        }
        catch (e) {
            if (!(e instanceof errors_1.NotFound))
                throw e;
        }
    }
    async alive() {
        const entries = [...this.created];
        const found = await Promise.all(entries.map(([id, sid]) => this.fetch(sid, false).then((sess) => [id, sid, sess])));
        const out = [];
        for (const [id, sid, sess] of found) {
            if (sess === null)
                this.created.delete(id);
            else
                out.push([sid, sess]);
        }
        return out;
    }
}
exports.SessiondStore = SessiondStore;
/** Run a promise into a node-style callback (express-session's style). */
function settle(promise, cb) {
    promise.then((value) => cb?.(null, value), (err) => (cb ? cb(err) : undefined));
}
