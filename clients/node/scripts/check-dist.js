"use strict";
/**
 * dist/ is committed, so that `npm install path/to/clients/node` works
 * without a build step on the installing side (npm runs no build for a
 * linked folder that has no TypeScript of its own, and newer npm asks
 * before running dependencies' scripts at all). This check keeps it
 * honest: it compiles src/ to a scratch folder and fails if dist/ differs.
 *
 * Fix a failure with `npm run build` and commit dist/ with the change.
 */

const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "sessiond-dist-"));

function files(dir) {
  return fs.readdirSync(dir, { recursive: true }).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

try {
  const tsc = require.resolve("typescript/bin/tsc", { paths: [root] });
  execFileSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.json"), "--outDir", scratch], { stdio: "inherit" });
  const dist = path.join(root, "dist");
  const want = files(scratch);
  const have = fs.existsSync(dist) ? files(dist) : [];
  const problems = [];
  for (const f of want) {
    if (!have.includes(f)) problems.push(`missing: dist/${f}`);
    else if (!fs.readFileSync(path.join(dist, f)).equals(fs.readFileSync(path.join(scratch, f)))) problems.push(`stale: dist/${f}`);
  }
  for (const f of have) if (!want.includes(f)) problems.push(`not built from src/: dist/${f}`);
  if (problems.length) {
    console.error(`dist/ does not match src/ (run \`npm run build\` and commit dist/):\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`dist/ matches src/ (${want.length} files)`);
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
