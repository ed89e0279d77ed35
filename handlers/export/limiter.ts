/**
 * Admits jobs in arrival order, at most `total` at once and `perKey` per key. A job whose key is
 * at its limit waits without holding back other keys' jobs behind it; within a key, order holds.
 */
export const jobLimiter = (total: number, perKey: number) => {
  let running = 0;
  const byKey = new Map<string, number>();
  const waiting: { key: string; admit(): void }[] = [];
  const canRun = (key: string) => running < total && (byKey.get(key) ?? 0) < perKey;
  const start = (key: string) => {
    running++;
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
  };
  const pump = () => {
    for (let i = 0; i < waiting.length && running < total; ) {
      const w = waiting[i] as (typeof waiting)[number];
      if (canRun(w.key)) {
        waiting.splice(i, 1);
        start(w.key);
        w.admit();
      } else i++;
    }
  };
  return {
    /** Resolves once the job may run; call the returned release when it is done, whatever the outcome. */
    async acquire(key: string): Promise<() => void> {
      if (canRun(key) && !waiting.some((w) => w.key === key)) start(key);
      else await new Promise<void>((admit) => waiting.push({ key, admit }));
      let released = false;
      return () => {
        if (released) return;
        released = true;
        running--;
        const n = (byKey.get(key) ?? 1) - 1;
        if (n === 0) byKey.delete(key);
        else byKey.set(key, n);
        pump();
      };
    },
    get waiting() {
      return waiting.length;
    },
  };
};
