/**
 * Where a `.cpuprofile` (from a bench's `--cpu-prof=DIR`) spent its time: self time summed per
 * function and per file (node_modules folded into their package), so a profile can be read
 * without DevTools and two runs compared as text.
 *
 *   node dist/bench/cpuprofileTop.js FILE.cpuprofile [--top=N] [--callers=NAME]
 *
 * `--callers=NAME`: for the samples whose own function is NAME, the time per calling stack (our
 * code's frames only, innermost first), to see who pays for a native or library hot spot.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  parent?: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A package for anything under node_modules, the path below the checkout for our own code, a label for V8's own nodes. */
export const fileOf = (url: string): string => {
  if (url === '') return '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return `npm:${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '').replace(/^node:/, 'node:');
};

export interface SelfTime {
  totalMs: number;
  byFunction: [string, number][];
  byFile: [string, number][];
}

/** Self time per function (`name file:line`) and per file, in ms, largest first. */
export const selfTime = (p: CpuProfile): SelfTime => {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const ms = (p.timeDeltas[i] ?? 0) / 1000;
    const n = byId.get(id);
    if (!n) return;
    total += ms;
    const f = fileOf(n.callFrame.url);
    const key = `${n.callFrame.functionName || '(anonymous)'} ${f}:${n.callFrame.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + ms);
    file.set(f, (file.get(f) ?? 0) + ms);
  });
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return { totalMs: total, byFunction: sorted(fn), byFile: sorted(file) };
};

/** Time per caller chain of the samples whose own function is `name`: frames of our code (not node_modules, not node:), up to `depth`. */
export const callersOf = (p: CpuProfile, name: string, depth = 4): [string, number][] => {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const out = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const n = byId.get(id);
    if (!n || n.callFrame.functionName !== name) return;
    const chain: string[] = [];
    let lib = '';
    for (let up = parent.get(id); up !== undefined && chain.length < depth; up = parent.get(up)) {
      const f = byId.get(up)?.callFrame;
      if (!f) break;
      const file = fileOf(f.url);
      if (file.startsWith('npm:') || file.startsWith('node:') || file === '(native)') {
        if (!lib && chain.length === 0) lib = `${f.functionName || '(anonymous)'} ${file}`;
        continue;
      }
      chain.push(`${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`);
    }
    const key = `${lib ? `[${lib}] ` : ''}${chain.join(' < ') || '(no caller of ours)'}`;
    out.set(key, (out.get(key) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  });
  return [...out].sort((a, b) => b[1] - a[1]);
};

const main = () => {
  const path = process.argv[2];
  if (!path) {
    console.error('usage: node dist/bench/cpuprofileTop.js FILE.cpuprofile [--top=N]');
    process.exitCode = 2;
    return;
  }
  const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice(6) ?? 40);
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const callers = process.argv.find((a) => a.startsWith('--callers='))?.slice(10);
  if (callers) {
    for (const [k, ms] of callersOf(profile, callers).slice(0, top)) console.log(`${ms.toFixed(0).padStart(7)} ms  ${k}`);
    return;
  }
  const s = selfTime(profile);
  const pct = (ms: number) => `${((ms / s.totalMs) * 100).toFixed(1).padStart(5)}%`;
  console.log(`${path}: ${(s.totalMs / 1000).toFixed(1)} s sampled (main thread)\n\nself time by file:`);
  for (const [k, ms] of s.byFile.slice(0, top)) console.log(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${k}`);
  console.log('\nself time by function:');
  for (const [k, ms] of s.byFunction.slice(0, top)) console.log(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${k}`);
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
