#!/usr/bin/env node
// Runs the compiled test files of the named suites (all suites when none is named; a path
// under build/test, such as tls/tls-sni.test.js, names one file) under the
// runtime named by REACTOR_TEST_RUNTIME:
// - unset or `node`: the node running this script, with node's test runner (`node --test`).
//   Listing the files here, rather than passing a directory or a glob, works the same on
//   Node.js 20 (directories) and 22+ (globs).
// - `bun`: the Bun binary in BUN_BINARY, else `bun` on PATH, with `bun test`, one file per
//   invocation. `bun test` runs every file it is given in one process; node's runner gives each
//   file its own, and so does this, so that one file's leftovers (a worker still exiting, the
//   process-wide descriptor count the leak checks read) cannot reach another's tests. (Every
//   file in one `bun test` passed as well, in about the same time: the isolation costs little.)
//   The closing line counts the tests of every file.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = 'build/test';
const suites = process.argv.slice(2);
const runtime = process.env.REACTOR_TEST_RUNTIME || 'node';
// Bun's own limit per test is 5 s; node's runner has none. Tests that need a bound set their
// own; this only keeps a hung test from holding the run forever.
const BUN_TEST_TIMEOUT_MS = 300_000;

function testFiles(dir) {
  if (!statSync(dir).isDirectory()) return [dir];
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return testFiles(path);
      return name.endsWith('.test.js') ? [path] : [];
    });
}

const files = (suites.length === 0 ? [root] : suites.map((suite) => join(root, suite))).flatMap(testFiles);
if (files.length === 0) {
  console.error(`no test files under ${suites.length === 0 ? root : suites.join(', ')}`);
  process.exit(1);
}

if (runtime === 'node') {
  const result = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
} else if (runtime === 'bun') {
  process.exit(await runUnderBun(process.env.BUN_BINARY || 'bun'));
} else {
  console.error(`REACTOR_TEST_RUNTIME must be node or bun, got ${JSON.stringify(runtime)}`);
  process.exit(1);
}

/** Each file in its own `bun test`, its output passed through and its counts added up. */
async function runUnderBun(bun) {
  const version = spawnSync(bun, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) {
    console.error(`cannot run Bun as ${JSON.stringify(bun)} (set BUN_BINARY): ${version.error?.message ?? version.stderr}`);
    return 1;
  }
  console.log(`== bun ${version.stdout.trim()}: ${files.length} test files`);
  const totals = { pass: 0, fail: 0, skip: 0 };
  const failedFiles = [];
  for (const file of files) {
    const { status, counts } = await bunTestFile(bun, file);
    totals.pass += counts.pass;
    totals.fail += counts.fail;
    totals.skip += counts.skip;
    // A file that failed without a failing test (it did not load, or the process died).
    if (status !== 0 && counts.fail === 0) totals.fail += 1;
    if (status !== 0) failedFiles.push(file);
  }
  if (failedFiles.length > 0) console.log(`failed files:\n  ${failedFiles.join('\n  ')}`);
  console.log(`${totals.pass} passed, ${totals.fail} failed, ${totals.skip} skipped`);
  return failedFiles.length === 0 ? 0 : 1;
}

function bunTestFile(bun, file) {
  return new Promise((resolve) => {
    // `./`: bun test takes a bare name as a filter, a path as a file.
    const child = spawn(bun, ['test', '--timeout', String(BUN_TEST_TIMEOUT_MS), `./${file}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const pass = (stream, target) =>
      stream.on('data', (chunk) => {
        output += chunk.toString();
        target.write(chunk);
      });
    pass(child.stdout, process.stdout);
    pass(child.stderr, process.stderr);
    child.on('close', (code, signal) => {
      const count = (word) => Number(output.match(new RegExp(`^\\s*(\\d+) ${word}$`, 'm'))?.[1] ?? 0);
      resolve({ status: signal === null ? code : 1, counts: { pass: count('pass'), fail: count('fail'), skip: count('skip') } });
    });
  });
}
