import { readFileSync } from 'node:fs';

/** This package's version, from its package.json (the compiled file is build/src/cli/package-version.js). */
export const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
