/**
 * The baseline: a minimal hand-written server speaking the seed protocol, the way one would
 * write it without a framework: node:net, or with a certificate and key node:tls (the same
 * handler, `tls.createServer` in place of `net.createServer`). `npm run bench` measures the
 * project against it, plaintext and TLS.
 *
 *   node build/bench/baseline-server.js [PORT [CERT_FILE KEY_FILE]]
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

const PREFIX = Buffer.from('[Server Reply]: ');
const [portArg = '0', certFile, keyFile] = process.argv.slice(2);
if ((certFile === undefined) !== (keyFile === undefined)) throw new Error('usage: baseline-server.js [PORT [CERT_FILE KEY_FILE]]');

function onConnection(socket: net.Socket): void {
  socket.on('data', (data: Buffer) => {
    const reply = Buffer.allocUnsafe(4 + PREFIX.length + data.length);
    reply.writeUInt32LE(PREFIX.length + data.length, 0);
    PREFIX.copy(reply, 4);
    data.copy(reply, 4 + PREFIX.length);
    socket.write(reply);
  });
  socket.on('error', () => socket.destroy());
}

// node:tls is loaded only for TLS: a plaintext baseline carries no more than a hand-written
// node:net server would (its memory per connection is one of the measures).
const server =
  certFile === undefined || keyFile === undefined
    ? net.createServer({ noDelay: true }, onConnection)
    : (await import('node:tls')).createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), noDelay: true }, onConnection);
server.listen(Number(portArg), '127.0.0.1', () => {
  const address = server.address() as net.AddressInfo;
  process.stdout.write(`${certFile === undefined ? '' : 'tls '}baseline listening on 127.0.0.1:${address.port}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
process.once('SIGINT', () => server.close(() => process.exit(0)));
