/**
 * Asks a running server one question on its control socket (see control-server.ts): one
 * request line out, one answer line back, then the connection closes.
 */
import net from 'node:net';
import { ControlSocketError } from '../core/errors.js';
import type { ControlRequest, ReloadReport, StatusReport } from './control-protocol.js';

/** The longest answer read: a status of the most reactors a group may run is a few KiB. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * Sends `request` and resolves with the answer.
 * @throws ControlSocketError: nothing listens at `path`, no answer within `timeoutMs`, the
 *   connection closed first, an answer that is not JSON, or an error reply (`refused`)
 */
export function askControl(path: string, request: { cmd: 'status' }, timeoutMs: number): Promise<StatusReport>;
export function askControl(path: string, request: { cmd: 'reload' }, timeoutMs: number): Promise<ReloadReport>;
export function askControl(path: string, request: ControlRequest, timeoutMs: number): Promise<StatusReport | ReloadReport> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let buffered = '';
    let connected = false;
    const fail = (reason: ConstructorParameters<typeof ControlSocketError>[1], detail: string, cause?: unknown): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(new ControlSocketError(path, reason, detail, cause === undefined ? undefined : { cause }));
    };
    const timer = setTimeout(() => fail('timeout', `no answer to ${request.cmd} within ${formatSeconds(timeoutMs)}`), timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => {
      connected = true;
      socket.write(`${JSON.stringify(request)}\n`);
    });
    socket.on('data', (text: string) => {
      buffered += text;
      const end = buffered.indexOf('\n');
      if (end === -1) {
        if (buffered.length > MAX_ANSWER_BYTES) fail('bad-reply', `answer longer than ${MAX_ANSWER_BYTES} bytes`);
        return;
      }
      let answer: unknown;
      try {
        answer = JSON.parse(buffered.slice(0, end));
      } catch (err) {
        fail('bad-reply', `answer is not JSON: ${(err as Error).message}`);
        return;
      }
      if (typeof answer !== 'object' || answer === null) {
        fail('bad-reply', 'answer is not a JSON object');
        return;
      }
      const { error } = answer as { error?: unknown };
      if (error !== undefined) {
        fail('refused', String(error));
        return;
      }
      clearTimeout(timer);
      socket.end();
      resolve(answer as StatusReport | ReloadReport);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) fail('unreachable', `cannot connect: ${err.code ?? err.message}`, err);
      else fail('closed', `connection failed before the answer: ${err.code ?? err.message}`, err);
    });
    socket.on('end', () => fail('closed', `connection closed before the answer to ${request.cmd}`));
  });
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
