#!/usr/bin/env node
// Runs the compiled test files of the named suites (all suites when none is named) with
// node's test runner. Listing the files here, rather than passing a directory or a glob,
// works the same on Node.js 20 (directories) and 22+ (globs).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = 'build/test';
const suites = process.argv.slice(2);

function testFiles(dir) {
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
const result = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
