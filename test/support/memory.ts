import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** `global.gc` if exposed, else the same function through V8's flag. */
const gc = ((): (() => void) => {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/**
 * RSS after full collections, so that it shows what is held rather than when V8 last collected
 * (unsettled, one process swings by ±60 MB over the same work).
 */
export const settledRss = async (): Promise<number> => {
  gc();
  await new Promise((r) => setTimeout(r, 50));
  gc();
  return process.memoryUsage().rss;
};
