import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { GLIBC_MALLOC_ENV, mallocTuning, V8_LOW_MEMORY_FLAGS, V8_MEMORY_FLAGS, v8MemoryFlags } from '../../core/mallocTuning.js';
import { packageRoot } from '../../core/paths.js';

const exec = promisify(execFile);
const GATEWAY = 'dist/core/cli.js start';

/** Runs `npm start`'s own command line through sh, with the gateway swapped for a probe that prints its malloc env and V8 flags. */
const started = async (env: Record<string, string>) => {
  const pkg = JSON.parse(await readFile(join(packageRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const script = (pkg.scripts.start as string).replace(/\bnode /, `${process.execPath} `);
  expect(script).toContain(GATEWAY);
  const probe = `-p "JSON.stringify({ MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? null, MALLOC_TRIM_THRESHOLD_: process.env.MALLOC_TRIM_THRESHOLD_ ?? null, execArgv: process.execArgv })"`;
  const { stdout } = await exec('sh', ['-c', script.replace(GATEWAY, probe)], { env: { PATH: process.env.PATH ?? '', ...env } });
  const { execArgv, ...malloc } = JSON.parse(stdout.trim().split('\n').at(-1) as string) as Record<string, string | null> & {
    execArgv: string[];
  };
  return { malloc, execArgv };
};
const startEnv = async (env: Record<string, string>) => (await started(env)).malloc;

describe('glibc malloc tuning', () => {
  it('npm start runs the gateway with GLIBC_MALLOC_ENV, and a value set by the operator wins', async () => {
    expect(await startEnv({})).toEqual(GLIBC_MALLOC_ENV);
    expect(await startEnv({ MALLOC_MMAP_THRESHOLD_: '262144' })).toEqual({
      ...GLIBC_MALLOC_ENV,
      MALLOC_MMAP_THRESHOLD_: '262144',
    });
  });

  it('npm start runs node with V8_MEMORY_FLAGS, or with FLEETGATE_V8_FLAGS when set (the low-memory choice)', async () => {
    expect(v8MemoryFlags((await started({})).execArgv)).toEqual([...V8_MEMORY_FLAGS]);
    expect(v8MemoryFlags((await started({ FLEETGATE_V8_FLAGS: V8_LOW_MEMORY_FLAGS.join(' ') })).execArgv)).toEqual([
      ...V8_LOW_MEMORY_FLAGS,
    ]);
  });

  it('the systemd units start the gateway with the same values and V8 flags', async () => {
    for (const file of ['fleetgate.service', 'fleetgate@.service']) {
      const unit = await readFile(join(packageRoot, 'deploy/systemd', file), 'utf8');
      const set = Object.fromEntries([...unit.matchAll(/^Environment=(MALLOC_[A-Z_]+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
      expect(set).toEqual(GLIBC_MALLOC_ENV);
      expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node \$FLEETGATE_V8_FLAGS dist\/core\/cli\.js start/m);
      // The default comes before the environment files, which override it.
      expect(unit).toMatch(new RegExp(`^Environment=FLEETGATE_V8_FLAGS=${V8_MEMORY_FLAGS.join(' ')}\\nEnvironmentFile=`, 'm'));
    }
  });

  it('the V8 flags are ones this node accepts (it refuses an unknown one: exit code 9)', async () => {
    const { stdout } = await exec(process.execPath, [...V8_LOW_MEMORY_FLAGS, '-p', 'JSON.stringify(process.execArgv)']);
    expect(v8MemoryFlags(JSON.parse(stdout) as string[])).toEqual(V8_LOW_MEMORY_FLAGS);
  });

  it('reports what the process was started with', () => {
    expect(mallocTuning({ MALLOC_TRIM_THRESHOLD_: '1048576' })).toEqual({
      MALLOC_MMAP_THRESHOLD_: 'glibc default',
      MALLOC_TRIM_THRESHOLD_: '1048576',
    });
    expect(v8MemoryFlags(['--inspect', ...V8_MEMORY_FLAGS, '--max-old-space-size=512'])).toEqual([
      ...V8_MEMORY_FLAGS,
      '--max-old-space-size=512',
    ]);
  });
});
