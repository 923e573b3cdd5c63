#!/usr/bin/env node
import { startEmbeddedServer } from './embedded-server.js';

/** `npm start`: relay-chat on one port with SQLite and the in-process bus. */
async function main(): Promise<void> {
  const server = await startEmbeddedServer(process.env);
  process.stdout.write(`\nrelay-chat is running at ${server.url}\n\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => {
      process.stderr.write(`relay-chat did not stop within 15 s (stuck closing: ${server.closingStep})\n`);
      process.exit(1);
    }, 15_000);
    force.unref();
    await server.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((err: unknown) => {
  console.error(`relay-chat failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
