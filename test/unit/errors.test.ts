import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as catalogue from '../../src/core/errors.js';
import * as api from '../../src/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const { ReactorError, ProtocolError } = catalogue;

type ErrorClass = (abstract new (...args: never[]) => Error) & { readonly code?: unknown };

/** Every class the catalogue exports. */
const classes: [string, ErrorClass][] = Object.entries(catalogue as Record<string, unknown>).filter((entry): entry is [string, ErrorClass] => typeof entry[1] === 'function');

/** The classes that only group others and have no code of their own. */
const BASES: readonly ErrorClass[] = [ReactorError, ProtocolError];

/** One instance of every class with a code, as the code that throws it would make it. */
const samples: readonly catalogue.ReactorError[] = [
  new catalogue.InvalidOptionError('port', 'must be an integer'),
  new catalogue.UnknownOptionError('prot', 'port'),
  new catalogue.ServerStateError('start() called on a server that is running'),
  new catalogue.UnsupportedError('no SO_REUSEPORT here', 'reusePort'),
  new catalogue.HandlerError('onMessage', new Error('boom')),
  new catalogue.FrameTooLargeError(10, 5),
  new catalogue.LineTooLongError(5),
  new catalogue.ProxyProtocolError('checksum', 'CRC32C 0x00000001 sent, 0x00000002 computed', 2),
  new catalogue.OutputOverflowError(10, 5),
  new catalogue.InputBudgetExceededError(1_048_580, 67_108_870, 67_108_864),
  new catalogue.DescriptorLimitError(1024, 1020, 3),
  new catalogue.PoolStoppedError(),
  new catalogue.PoolStateError('init() called while the pool is running'),
  new catalogue.WorkerCrashError(new Error('exit')),
  new catalogue.ReactorStartError(0, 'port in use', 'EADDRINUSE'),
  new catalogue.PayloadTooLargeError(2048, 1024),
  new catalogue.RequestTimeoutError(100),
  new catalogue.ConnectionClosedError(),
  new catalogue.EmptyMessageError(),
  new catalogue.TlsHandshakeError('127.0.0.1:8888', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', new Error('unable to verify the first certificate')),
  new catalogue.ConfigFileError('server.json', [{ key: 'port', message: 'must be a number' }]),
  new catalogue.ControlSocketError('/run/reactor-server/server.sock', 'timeout', 'no answer within 5 s'),
];

/** docs/errors.md cut at its headings: heading text -> the text under it. */
function docSections(): Map<string, string> {
  const sections = new Map<string, string>();
  const parts = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8').split(/^#{2,4} +(.+)$/m);
  for (let i = 1; i < parts.length; i += 2) sections.set(parts[i]!.trim(), parts[i + 1] ?? '');
  return sections;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

describe('the error catalogue', () => {
  it('exports only ReactorError and its subclasses, each also from the package root', () => {
    assert.ok(classes.length > BASES.length);
    for (const [name, errorClass] of classes) {
      assert.ok(errorClass === ReactorError || errorClass.prototype instanceof ReactorError, `${name} is no ReactorError`);
      assert.equal((api as Record<string, unknown>)[name], errorClass, `${name} is not exported from src/index.ts`);
    }
  });

  it('gives every class but the bases a code: its own, unique, or (a refinement) its parent class\'s', () => {
    const owners = new Map<string, string>();
    for (const [name, errorClass] of classes) {
      if (BASES.includes(errorClass)) {
        assert.equal(errorClass.code, undefined, `${name} is a base and has no code`);
        continue;
      }
      assert.equal(typeof errorClass.code, 'string', `${name} has no static code`);
      const code = errorClass.code as string;
      if (!Object.hasOwn(errorClass, 'code')) continue; // inherited: a kind of its parent
      assert.match(code, /^(ERR_[A-Z_]+|E[A-Z]+)$/, `${name}'s code`);
      assert.equal(owners.get(code), undefined, `${name} and ${owners.get(code)} share ${code}`);
      owners.set(code, name);
    }
  });

  it("makes errors that carry their class's code and name", () => {
    const coded = classes.filter(([, errorClass]) => !BASES.includes(errorClass));
    for (const [name, errorClass] of coded) {
      const sample = samples.find((error) => error.constructor === errorClass);
      assert.ok(sample !== undefined, `no sample of ${name} in this test`);
      assert.equal(sample.code, errorClass.code, name);
      assert.equal(sample.name, name);
    }
  });

  it('has an entry in docs/errors.md for every code, naming its classes, and none for a code that is gone', () => {
    const sections = docSections();
    for (const [name, errorClass] of classes) {
      if (BASES.includes(errorClass)) {
        assert.ok(sections.has(name), `docs/errors.md has no heading for the base class ${name}`);
        continue;
      }
      const entry = sections.get(errorClass.code as string);
      assert.ok(entry !== undefined, `docs/errors.md has no heading ${String(errorClass.code)} (${name})`);
      assert.ok(entry.includes(`\`${name}\``), `the ${String(errorClass.code)} entry of docs/errors.md does not name ${name}`);
    }
    const codes = new Set(classes.map(([, errorClass]) => errorClass.code));
    const codeHeadings = [...sections.keys()].filter((heading) => /^(ERR_[A-Z_]+|E[A-Z]+)$/.test(heading));
    assert.deepEqual(codeHeadings.filter((heading) => !codes.has(heading)), []);
  });

  it('is the only place under src/ that defines an error class', () => {
    const elsewhere = sourceFiles(join(ROOT, 'src'))
      .filter((file) => !file.endsWith(join('core', 'errors.ts')))
      .flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/\bclass\s+(\w+)\s+extends\s+(\w*Error)\b/g)].map((match) => `${file.slice(ROOT.length)}: ${match[1]} extends ${match[2]}`));
    assert.deepEqual(elsewhere, []);
  });
});
