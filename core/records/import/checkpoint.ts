import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { SourcePosition } from './sources.js';

/** Where an import of one file stands: what was appended (and acknowledged) up to where. */
export interface ImportCheckpoint extends SourcePosition {
  file: string;
  size: number;
  mtimeMs: number;
  type: string;
  /** Records appended, lines refused, so far. */
  appended: number;
  refused: number;
  done: boolean;
}

/**
 * The file's identity: path, size and modification time. A file changed since (re-exported) is a
 * new import; the same file resumes.
 */
export const importIdentity = async (file: string, type: string) => {
  const path = resolve(file);
  const s = await stat(path);
  const key = createHash('sha256').update(`${type}\0${path}\0${s.size}\0${s.mtimeMs}`).digest('base64url').slice(0, 32);
  return { path, size: s.size, mtimeMs: s.mtimeMs, key };
};

/** Checkpoints live under DATA_DIR/imports, one JSON file per import, replaced atomically. */
export const checkpointStore = (dataDir: string, key: string) => {
  const dir = join(dataDir, 'imports');
  const path = join(dir, `${key}.json`);
  return {
    path,
    async load(): Promise<ImportCheckpoint | undefined> {
      try {
        return JSON.parse(await readFile(path, 'utf8')) as ImportCheckpoint;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    async save(c: ImportCheckpoint) {
      await mkdir(dir, { recursive: true });
      // Write then rename: a kill mid-write leaves the previous checkpoint, never half of one.
      await writeFile(`${path}.tmp`, JSON.stringify(c));
      await rename(`${path}.tmp`, path);
    },
  };
};
