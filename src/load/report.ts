import type { BenchResult } from './load-driver.js';

const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** The human-readable summary of a bench run. */
export function formatResult(r: BenchResult): string {
  const lines = [`mode ${r.mode}${r.tls ? ' over TLS' : ''}, ${r.connections} connections, ${r.seconds.toFixed(2)} s`];
  if (r.mode === 'connect') lines.push(`sessions     ${number.format(r.sessions)} (${number.format(r.sessionsPerSecond)}/s)`);
  else lines.push(`replies      ${number.format(r.replies)} (${number.format(r.repliesPerSecond)}/s)`);
  if (r.mode === 'hold') lines.push(`held         ${number.format(r.held)} of ${number.format(r.connections)}`);
  const l = r.latencyUs;
  lines.push(`latency us   p50 ${number.format(l.p50)}  p90 ${number.format(l.p90)}  p99 ${number.format(l.p99)}  p99.9 ${number.format(l.p999)}  max ${number.format(l.max)}`);
  lines.push(`errors       ${r.errors} connection${r.errors > 0 ? ` (${errorCodes(r)})` : ''}, ${r.wrongReplies} wrong replies`);
  return lines.join('\n');
}

/** "ECONNRESET 2, ERR_CONNECTION_CLOSED 1": the commonest first. */
function errorCodes(r: BenchResult): string {
  return Object.entries(r.errorsByCode)
    .sort(([, a], [, b]) => b - a)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
}

/**
 * Why a run counts as failed, one phrase per reason; empty when it measured something (replies,
 * or sessions in connect mode) and saw no connection error and no wrong reply.
 */
export function failures(r: BenchResult): string[] {
  const reasons: string[] = [];
  const [measured, unit] = r.mode === 'connect' ? [r.sessions, 'sessions'] : [r.replies, 'replies'];
  if (measured === 0) reasons.push(`nothing measured (0 ${unit})`);
  if (r.errors > 0) reasons.push(`${r.errors} connection error${r.errors === 1 ? '' : 's'}`);
  if (r.wrongReplies > 0) reasons.push(`${r.wrongReplies} wrong repl${r.wrongReplies === 1 ? 'y' : 'ies'}`);
  return reasons;
}

/** A one-line progress bar for a terminal. */
export function progressLine(elapsed: number, total: number, replies: number): string {
  const width = 30;
  const filled = Math.min(width, Math.round((elapsed / total) * width));
  const rate = elapsed > 0 ? replies / elapsed : 0;
  return `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${elapsed.toFixed(1)}/${total}s  ${number.format(rate)} replies/s `;
}
