/**
 * Entry of a load-generator child process (forked by the coordinator): relays IPC messages
 * to a LoadGenerator and exits when told to close or when the coordinator goes away.
 */

import { LoadGenerator } from './generator.js';
import type { CoordinatorMessage, GeneratorMessage } from './generator-protocol.js';

const send = (message: GeneratorMessage) => process.send?.(message);
const generator = new LoadGenerator((message) => {
  send(message);
  if (message.type === 'closed') setTimeout(() => process.exit(0), 50);
});

process.on('message', (message: CoordinatorMessage) => {
  try {
    generator.handle(message);
  } catch (err) {
    send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('uncaughtException', (err) => {
  send({ type: 'fatal', message: err.message });
  process.exit(1);
});
