// Type-checked by package.test.js, never run: a SessiondStore is an
// express-session Store as @types/express-session declares it.
import session from "express-session";
import { Client, VersionMismatch, type SessionInfo } from "sessiond";
import { SessiondStore } from "sessiond/express";

declare module "express-session" {
  interface SessionData {
    userId: string;
  }
}

const store = new SessiondStore({ client: new Client(), session, ownerField: "userId", labels: (s) => ({ ua: String(s.ua) }) });
export const middleware = session({ store, genid: store.genid, secret: "x", resave: false, saveUninitialized: false });
export const asStore: session.Store = store;

export async function devices(c: Client, userId: string): Promise<SessionInfo[]> {
  try {
    await c.update("AAECAwQFBgcICQoLDA0O_w", "x", { expectedVersion: 1 });
  } catch (e) {
    if (e instanceof VersionMismatch) console.log(e.expected, e.actual);
  }
  return store.listByOwner(userId);
}

// @ts-expect-error: idleSecs is a number of seconds
export const wrong = (c: Client) => c.create("o", { idleSecs: "60" });
