import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A module named by URL (`file:`, `data:`, ...), URL object, or file path, as an import()-able URL. */
export function moduleUrl(module: string | URL): string {
  if (module instanceof URL) return module.href;
  // Two or more characters before the colon: a URL scheme, not a Windows drive letter.
  if (/^[a-z][a-z0-9+.-]+:/i.test(module)) return module;
  return pathToFileURL(resolve(module)).href;
}
