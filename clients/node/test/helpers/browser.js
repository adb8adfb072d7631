"use strict";
/** A browser for the express tests: fetch with a cookie jar of its own, redirects not followed. */

class Browser {
  constructor(base, userAgent = "TestBrowser/1.0") {
    this.base = base;
    this.userAgent = userAgent;
    this.cookies = new Map();
  }

  /** One request with a JSON or form body; resolves with status, location and text. */
  async send(method, path, { json, form } = {}) {
    const headers = { "user-agent": this.userAgent };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    let body;
    if (json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(this.base + path, { method, headers, body, redirect: "manual" });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair.indexOf("=");
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return { status: res.status, location: res.headers.get("location"), text: await res.text() };
  }

  /** A JSON API call that must answer 200. */
  async request(method, path, json) {
    const res = await this.send(method, path, { json });
    if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
    return JSON.parse(res.text);
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body = {}) {
    return this.request("POST", path, body);
  }
}

module.exports = { Browser };
