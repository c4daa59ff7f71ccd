import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The sources, found from this compiled file (build/test/unit/) back to the repository. */
const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

/**
 * What each folder of src/ may import from (its own folder always): the layers of
 * docs/architecture.md, lowest first. `callbacks` is src/callbacks.ts, the application's
 * callback types that Connection calls.
 */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  core: [],
  transport: ['core', 'proxy'],
  pool: ['core'],
  proxy: ['core'],
  net: ['core', 'transport', 'callbacks'],
  admission: ['core', 'net'],
  server: ['core', 'transport', 'net', 'pool', 'proxy', 'admission', 'callbacks'],
  broker: ['core', 'server'],
};

/** The folder (or root file, without extension) under src/ that a relative import lands in. */
function areaOf(fromFile: string, specifier: string): string {
  const target = relative(SRC, resolve(dirname(fromFile), specifier));
  return target.split(/[\\/]/)[0]!.replace(/\.js$/, '');
}

/** Every relative import and re-export specifier in a TypeScript source, type-only ones too. */
function relativeImports(source: string): string[] {
  return [...source.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)'/gms)].map((match) => match[1]!);
}

describe('layers', () => {
  for (const [area, allowed] of Object.entries(MAY_IMPORT)) {
    it(`src/${area} imports only from ${allowed.length === 0 ? 'itself' : `itself and ${allowed.join(', ')}`}`, () => {
      const files = readdirSync(join(SRC, area)).filter((name) => name.endsWith('.ts'));
      assert.ok(files.length > 0, `no sources found in ${join(SRC, area)}`);
      const upward = files.flatMap((name) => {
        const file = join(SRC, area, name);
        return relativeImports(readFileSync(file, 'utf8'))
          .filter((specifier) => {
            const target = areaOf(file, specifier);
            return target !== area && !allowed.includes(target);
          })
          .map((specifier) => `${area}/${name} imports ${specifier}`);
      });
      assert.deepEqual(upward, []);
    });
  }
});
