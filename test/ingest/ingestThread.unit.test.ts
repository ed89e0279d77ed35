import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/logger.js';
import { ownProfileName, startIngestThread } from '../../ingest/worker/ingestThread.js';
import { isGatewayError } from '../../schemas/errors.js';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);

describe('the ingest worker thread, as the main thread sees it', () => {
  it('reports a worker that dies after start-up, so the process can end instead of running without devices', async () => {
    let crashed: (reason: string) => void = () => {};
    const reason = new Promise<string>((resolve) => {
      crashed = resolve;
    });
    const ingest = await startIngestThread({
      env: {},
      logger: silentLogger(),
      onCrash: crashed,
      entry: fixture('ingestWorkerThatDies.mjs'),
    });
    expect(ingest.mqttPort).toBe(1);
    expect(await reason).toBe('ingest thread exited (3)');
    // The shutdown that follows closes it like a live one, at once.
    const t0 = Date.now();
    await ingest.close();
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('rejects start-up with the worker’s own error (a GatewayError stays one, so the CLI prints it plainly)', async () => {
    let crashes = 0;
    const started = startIngestThread({
      env: {},
      logger: silentLogger(),
      onCrash: () => crashes++,
      entry: fixture('ingestWorkerThatFails.mjs'),
    });
    const err = await started.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isGatewayError(err, 'GW_ERR_CONFIG')).toBe(true);
    expect((err as Error).message).toBe('MQTT_PORT 1883 is in use');
    await new Promise((r) => setTimeout(r, 100));
    expect(crashes).toBe(0); // a start-up failure is reported once, as the rejection
  });

  it('gives the worker a CPU profile of its own under --cpu-prof-name, and leaves its flags alone otherwise', () => {
    expect(ownProfileName(['--cpu-prof', '--cpu-prof-dir=/tmp/p', '--cpu-prof-name=gateway-jetstream.cpuprofile'])).toEqual([
      '--cpu-prof',
      '--cpu-prof-dir=/tmp/p',
      '--cpu-prof-name=gateway-jetstream-ingest.cpuprofile',
    ]);
    expect(ownProfileName(['--cpu-prof-name=gw'])).toEqual(['--cpu-prof-name=gw-ingest']);
    // Not profiling: the worker inherits (an explicit list with --max-old-space-size would stop it).
    expect(ownProfileName(['--max-old-space-size=4096'])).toBeUndefined();
  });
});
