import { createConnection } from 'node:net';
import WebSocket from 'ws';

/** Port Node opens its inspector on after SIGUSR1. */
const INSPECTOR_PORT = 9229;

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A V8 CPU profile being recorded in another Node process. */
export interface RemoteProfile {
  /** Stops recording; resolves with the profile (`.cpuprofile` JSON) and closes the inspector. */
  stop(): Promise<unknown>;
}

/**
 * Starts the V8 CPU profiler in a running Node process, for a chosen window (the measured part
 * of a run, not start-up): SIGUSR1 opens its inspector on 127.0.0.1:9229, the profiler is
 * driven over the DevTools protocol, and the inspector is closed again afterwards. One
 * process at a time (one inspector port); refuses when the port is already taken, so it
 * never attaches to somebody else's process.
 */
export async function startRemoteProfile(pid: number, samplingIntervalUs = 1000): Promise<RemoteProfile> {
  if (await portInUse(INSPECTOR_PORT)) throw new Error(`port ${INSPECTOR_PORT} is in use: not profiling`);
  process.kill(pid, 'SIGUSR1');
  let target: { webSocketDebuggerUrl?: string } | undefined;
  for (let i = 0; i < 50 && !target; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      const list = (await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json/list`)).json()) as {
        webSocketDebuggerUrl?: string;
      }[];
      target = list[0];
    } catch {
      // not listening yet
    }
  }
  if (!target?.webSocketDebuggerUrl) throw new Error(`process ${pid} did not open its inspector`);
  const ws = new WebSocket(target.webSocketDebuggerUrl, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const waiting = new Map<number, (result: unknown) => void>();
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString()) as { id?: number; result?: unknown };
    if (message.id !== undefined) waiting.get(message.id)?.(message.result);
  });
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
  await call('Profiler.start');
  return {
    async stop() {
      const result = (await call('Profiler.stop')) as { profile: unknown };
      // Close the inspector so the port is free again (process.getBuiltinModule: Node ≥ 20.16);
      // the answer may never come (the session goes with it), so do not wait for it.
      void call('Runtime.evaluate', { expression: "process.getBuiltinModule('node:inspector').close()" });
      await new Promise((r) => setTimeout(r, 200));
      ws.terminate();
      return result.profile;
    },
  };
}
