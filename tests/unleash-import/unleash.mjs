// Starts a real Unleash (npm unleash-server, pinned in package-lock.json) for
// import.test.js and prints "unleash: ready <port>" once it answers.
//
// Environment: UNLEASH_DATABASE_URL (a PostgreSQL database of its own),
// UNLEASH_PORT, INIT_ADMIN_API_TOKENS (Unleash reads it itself). Needs
// Node.js >= 22 (run.sh provides it), and VEXIL_UNLEASH_MODULES: the folder
// whose node_modules holds unleash-server (run.sh installs it outside the
// checkout; default: this folder).
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const from = process.env.VEXIL_UNLEASH_MODULES || new URL('.', import.meta.url).pathname;
const entry = createRequire(import.meta.url).resolve('unleash-server', { paths: [from] });
const { start } = await import(pathToFileURL(entry).href);

const port = Number(process.env.UNLEASH_PORT);
await start({
  databaseUrl: process.env.UNLEASH_DATABASE_URL,
  db: { ssl: false }, // the private test server speaks no TLS
  server: { port, host: '127.0.0.1' },
  versionCheck: { enable: false },
  telemetry: false,
  logLevel: 'error',
});
process.stdout.write(`unleash: ready ${port}\n`);
