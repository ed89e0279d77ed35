import { defineConfig } from 'vitest/config';

// Fault tests measure latency under attack: they run alone, after the rest. Everything else runs two
// files at a time (vitest's default on a 2-core machine is one): most of a file's time is spent
// waiting on nats-server, Postgres, child processes and timers, not on the CPU.
const ALONE = ['test/**/*.faults.test.ts'];

export default defineConfig({
  test: {
    // chdb segfaults when a worker thread that loaded it exits: forks only.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
    projects: [
      {
        extends: true,
        test: { name: 'shared', include: ['test/**/*.test.ts'], exclude: ALONE, maxWorkers: 2 },
      },
      // maxWorkers 1 puts these files in vitest's sequential group, which runs last.
      { extends: true, test: { name: 'alone', include: ALONE, maxWorkers: 1 } },
    ],
  },
});
