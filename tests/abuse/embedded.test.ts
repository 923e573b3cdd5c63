/**
 * The abuse suite against the embedded server (one process, SQLite, in-process bus), run
 * as a child process so the attackers, the server and the control pair never share an
 * event loop.
 */
import { describeAbuseSuite } from './abuse-suite.js';
import { startEmbeddedTarget } from './abuse-targets.js';

describeAbuseSuite('abuse: the embedded server', startEmbeddedTarget, {
  floodMs: 5000,
  leaveWhileRedisDown: false,
});
