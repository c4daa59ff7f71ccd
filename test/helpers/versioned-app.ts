/**
 * An application module written at test time, so that a test can change it on disk and see a
 * replaced reactor load the new version: it answers `version?` with its version and echoes
 * everything else as the default application does. No tests here and no side effects on import.
 */
import { writeFileSync } from 'node:fs';

const INDEX = new URL('../../src/index.js', import.meta.url).href;

export function writeVersionedApp(file: string, version: string): void {
  writeFileSync(
    file,
    `import { ReactorServer } from ${JSON.stringify(INDEX)};
export default (options) => new (class extends ReactorServer {
  processMessage(conn, message) {
    if (message.toString() === 'version?') conn.send(${JSON.stringify(version)});
    else conn.send(Buffer.concat([Buffer.from('[Server Reply]: '), message]));
  }
})(options);
`,
  );
}
