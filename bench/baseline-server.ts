/**
 * The baseline: a minimal hand-written node:net server speaking the seed protocol, the way
 * one would write it without a framework. `npm run bench` measures the project against it.
 *
 *   node build/bench/baseline-server.js [port]
 */
import net from 'node:net';

const PREFIX = Buffer.from('[Server Reply]: ');
const port = Number(process.argv[2] ?? 0);

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('data', (data: Buffer) => {
    const reply = Buffer.allocUnsafe(4 + PREFIX.length + data.length);
    reply.writeUInt32LE(PREFIX.length + data.length, 0);
    PREFIX.copy(reply, 4);
    data.copy(reply, 4 + PREFIX.length);
    socket.write(reply);
  });
  socket.on('error', () => socket.destroy());
});
server.listen(port, '127.0.0.1', () => {
  const address = server.address() as net.AddressInfo;
  process.stdout.write(`baseline listening on 127.0.0.1:${address.port}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
process.once('SIGINT', () => server.close(() => process.exit(0)));
