#!/usr/bin/env node
// The entry stays this small so that it runs at once: a signal that arrives while the rest of
// the command loads must find a handler (early-signals.ts), not the default action.
import './early-signals.js';

await import('./program.js');
