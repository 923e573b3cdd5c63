import { describePresenceRegistry } from './contract.js';
import { MemoryPresence } from './memory.js';

describePresenceRegistry('MemoryPresence', {
  async create() {
    const presence = new MemoryPresence();
    await presence.start();
    return presence;
  },
});
