/**
 * The fake 1C of `npm run bench -- erp`, in a process of its own (forked with IPC), so the bench
 * process's RSS and CPU are the gateway side's only. Commands from the parent, one answer each:
 * `seed` (N objects into a set), `clear` (empty a set), `stats` (handler time, objects in a set,
 * peak RSS since the last `stats`), `close`.
 */
import { startFakeOneC } from '../test/fakes/onec.js';

export type FakeCommand =
  | { id: number; type: 'seed'; set: string; count: number; description: string }
  | { id: number; type: 'clear'; set: string }
  | { id: number; type: 'stats'; set: string }
  | { id: number; type: 'close' };

export type FakeAnswer =
  | { type: 'ready'; url: string }
  | { id: number; type: 'done' }
  | { id: number; type: 'stats'; busyMs: number; size: number; rssPeak: number; cpuMs: number };

const send = (m: FakeAnswer) => process.send?.(m);

const main = async () => {
  const [user = '', password = '', ...sets] = process.argv.slice(2);
  const fake = await startFakeOneC({ user, password, sets });
  let rssPeak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }, 50);
  process.on('message', async (m: FakeCommand) => {
    switch (m.type) {
      case 'seed':
        // In slices: one huge array of objects would be the fake's own peak, not the server's.
        for (let i = 0; i < m.count; i += 10_000) {
          fake.seed(
            m.set,
            Array.from({ length: Math.min(10_000, m.count - i) }, (_, j) => ({
              Description: `${m.description} ${i + j}`,
              Комментарий: '',
            })),
          );
        }
        return send({ id: m.id, type: 'done' });
      case 'clear':
        fake.sets.get(m.set)?.clear();
        return send({ id: m.id, type: 'done' });
      case 'stats': {
        const peak = Math.max(rssPeak, process.memoryUsage().rss);
        rssPeak = process.memoryUsage().rss;
        const cpu = process.cpuUsage();
        return send({
          id: m.id,
          type: 'stats',
          busyMs: fake.busyMs,
          size: fake.sets.get(m.set)?.size ?? 0,
          rssPeak: peak,
          cpuMs: (cpu.user + cpu.system) / 1000,
        });
      }
      case 'close':
        clearInterval(sampler);
        await fake.close();
        send({ id: m.id, type: 'done' });
        process.disconnect?.();
        return;
    }
  });
  send({ type: 'ready', url: fake.url });
};

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
