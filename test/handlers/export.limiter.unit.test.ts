import { describe, expect, it } from 'vitest';
import { jobLimiter } from '../../handlers/export/limiter.js';

describe('export job limiter', () => {
  it('runs at most N at once and one per key; the rest start in arrival order, other keys not held back', async () => {
    const limit = jobLimiter(2, 1);
    const started: string[] = [];
    const releases = new Map<string, () => void>();
    const job = (name: string, key: string) =>
      limit.acquire(key).then((release) => {
        started.push(name);
        releases.set(name, release);
      });
    const all = [job('a1', 'a'), job('a2', 'a'), job('b1', 'b'), job('c1', 'c'), job('a3', 'a')];
    await new Promise((r) => setImmediate(r));
    // a1 and b1 run; a2 waits for key a, c1 for a free slot.
    expect(started).toEqual(['a1', 'b1']);
    expect(limit.waiting).toBe(3);
    releases.get('a1')?.();
    await new Promise((r) => setImmediate(r));
    // The freed slot goes to the first waiter that may run: a2 (key a is free again).
    expect(started).toEqual(['a1', 'b1', 'a2']);
    releases.get('b1')?.();
    await new Promise((r) => setImmediate(r));
    // a3 is still behind a2 for key a, so c1 overtakes it.
    expect(started).toEqual(['a1', 'b1', 'a2', 'c1']);
    releases.get('a2')?.();
    releases.get('a2')?.(); // a second release of the same job changes nothing
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a1', 'b1', 'a2', 'c1', 'a3']);
    await Promise.all(all);
    expect(limit.waiting).toBe(0);
  });
});
