import type { Worker } from 'node:worker_threads';

/** What the PGlite workers post: `ready` (with how an init made its cluster), `closed`, or `failed`. */
export type WorkerReply = { type: 'ready' | 'closed' | 'failed'; error?: string; how?: 'template' | 'initdb' };

/** The worker's next `want` message; rejects on `failed`, an error, or the worker's exit. */
export const reply = (worker: Worker, want: WorkerReply['type']) =>
  new Promise<WorkerReply>((resolve, reject) => {
    const onMessage = (m: WorkerReply) => {
      if (m.type !== want && m.type !== 'failed') return;
      off();
      if (m.type === 'failed' || m.error) reject(new Error(`PGlite worker: ${m.error}`));
      else resolve(m);
    };
    const onExit = (code: number) => {
      off();
      reject(new Error(`PGlite worker exited with code ${code}`));
    };
    const onError = (e: Error) => {
      off();
      reject(e);
    };
    const off = () => {
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      worker.off('error', onError);
    };
    worker.on('message', onMessage);
    worker.on('exit', onExit);
    worker.on('error', onError);
  });
