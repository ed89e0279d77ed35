/**
 * Takes the data-directory lock and holds it until killed; prints "locked" once it holds it.
 * Usage: node --import tsx test/support/dataDirHolder.ts DATA_DIR
 */
import { lockDataDir } from '../../core/dataDirLock.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: dataDirHolder.ts DATA_DIR');
await lockDataDir(dir);
process.stdout.write('locked\n');
setInterval(() => {}, 60_000);
