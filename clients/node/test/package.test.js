"use strict";
// The package as a user gets it: `npm install path/to/clients/node` into a
// fresh project, and the tarball `npm pack` makes; both with require,
// import and TypeScript. All offline: the package has no dependencies.

const assert = require("node:assert/strict");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { after, before, test: nodeTest } = require("node:test");

const test = (name, fn) => nodeTest(name, { timeout: 120_000 }, fn);

const PKG = path.resolve(__dirname, "..");
let tmp;

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sessiond-pkg-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function npm(args, cwd) {
  // Under `npm test`, npm_execpath is the npm that runs us.
  const cli = process.env.npm_execpath;
  const [cmd, argv] = cli && cli.endsWith(".js") ? [process.execPath, [cli, ...args]] : ["npm", args];
  return execFileSync(cmd, argv, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" } });
}

function freshProject(name) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", private: true }));
  return dir;
}

const node = (cwd, args) => execFileSync(process.execPath, args, { cwd, encoding: "utf8" });

/** require, import and TypeScript against the installed package in `dir`. */
function checkUsable(dir) {
  const cjs = node(dir, ["-e", "const s = require('sessiond'); const { SessiondStore } = require('sessiond/express'); console.log(typeof s.Client, typeof SessiondStore, s.isSessionId(s.generateSessionId()))"]);
  assert.equal(cjs.trim(), "function function true");
  const esm = node(dir, ["--input-type=module", "-e", "import { Client, NotFound } from 'sessiond'; import { SessiondStore } from 'sessiond/express'; console.log(typeof Client, typeof NotFound, typeof SessiondStore)"]);
  assert.equal(esm.trim(), "function function function");
  fs.writeFileSync(
    path.join(dir, "use.ts"),
    [
      'import { Client, VersionMismatch, type SessionInfo } from "sessiond";',
      'import { SessiondStore } from "sessiond/express";',
      "export async function devices(c: Client): Promise<SessionInfo[]> {",
      '  try { await c.update("AAECAwQFBgcICQoLDA0O_w", "x", { expectedVersion: 1 }); } catch (e) { if (e instanceof VersionMismatch) console.log(e.actual + 1); }',
      '  return c.list("user:1");',
      "}",
      "export const store: typeof SessiondStore = SessiondStore;",
      "// @ts-expect-error: idleSecs is a number",
      'export const wrong = (c: Client) => c.create("o", { idleSecs: "60" });',
      "",
    ].join("\n"),
  );
  const tsc = require.resolve("typescript/bin/tsc", { paths: [PKG] });
  for (const resolution of [["--module", "node16", "--moduleResolution", "node16"], ["--module", "commonjs", "--moduleResolution", "node10"]]) {
    node(dir, [tsc, "--noEmit", "--strict", "--skipLibCheck", "--types", "node", "--typeRoots", path.join(PKG, "node_modules", "@types"), ...resolution, "use.ts"]);
  }
}

test("npm install of the folder into a fresh project works", () => {
  const dir = freshProject("from-folder");
  npm(["install", "--offline", PKG], dir);
  checkUsable(dir);
});

test("npm pack ships dist with types, and the tarball installs", () => {
  const packed = JSON.parse(npm(["pack", "--json", "--pack-destination", tmp], PKG));
  const files = packed[0].files.map((f) => f.path);
  for (const f of ["package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/express.js", "dist/express.d.ts"]) {
    assert.ok(files.includes(f), `${f} is in the tarball`);
  }
  assert.ok(!files.some((f) => f.startsWith("test/") || f.startsWith("node_modules/")), files.join(", "));
  const dir = freshProject("from-tarball");
  npm(["install", "--offline", path.join(tmp, packed[0].filename)], dir);
  assert.ok(!fs.lstatSync(path.join(dir, "node_modules", "sessiond")).isSymbolicLink());
  checkUsable(dir);
});

test("types: a SessiondStore is an express-session Store as @types/express-session declares it", () => {
  const tsc = require.resolve("typescript/bin/tsc", { paths: [PKG] });
  // Throws, with tsc's messages, if anything does not type-check.
  node(PKG, [tsc, "-p", path.join(__dirname, "types", "tsconfig.json")]);
});
