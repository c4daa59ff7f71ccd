/**
 * The TLS baseline: the plaintext baseline (baseline-server.ts) with `tls.createServer` in
 * place of `net.createServer`, the way one would write a TLS echo for the seed protocol by
 * hand. `npm run bench` measures the project's TLS serving against it.
 *
 *   node build/bench/tls-baseline-server.js PORT CERT_FILE KEY_FILE
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';

const PREFIX = Buffer.from('[Server Reply]: ');
const [portArg = '0', certFile, keyFile] = process.argv.slice(2);
if (certFile === undefined || keyFile === undefined) throw new Error('usage: tls-baseline-server.js PORT CERT_FILE KEY_FILE');

const server = tls.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), noDelay: true }, (socket) => {
  socket.on('data', (data: Buffer) => {
    const reply = Buffer.allocUnsafe(4 + PREFIX.length + data.length);
    reply.writeUInt32LE(PREFIX.length + data.length, 0);
    PREFIX.copy(reply, 4);
    data.copy(reply, 4 + PREFIX.length);
    socket.write(reply);
  });
  socket.on('error', () => socket.destroy());
});
server.listen(Number(portArg), '127.0.0.1', () => {
  const address = server.address() as AddressInfo;
  process.stdout.write(`tls baseline listening on 127.0.0.1:${address.port}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
process.once('SIGINT', () => server.close(() => process.exit(0)));
