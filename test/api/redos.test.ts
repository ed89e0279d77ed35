import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kind } from '@sinclair/typebox';
import type { Diagnostics } from 'recheck';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * Every regular expression the gateway runs on what a client sends goes through recheck's
 * automaton checker (issue 23): a pattern with super-linear backtracking fails this test, so
 * no future schema or parser can freeze the main thread with one crafted string.
 */

const ROOT = join(import.meta.dirname, '..', '..');

const sourceFiles = (dir: string): string[] =>
  readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));

interface Found {
  where: string;
  source: string;
  flags: string;
}

/** `pattern` keywords and `patternProperties` keys anywhere inside a (TypeBox) schema. */
const schemaPatterns = (node: unknown, where: string, out: Found[], seen = new Set<unknown>()) => {
  if (typeof node !== 'object' || node === null || seen.has(node)) return;
  seen.add(node);
  const o = node as Record<string, unknown>;
  if (typeof o.pattern === 'string' && (Kind in o || 'type' in o)) out.push({ where, source: o.pattern, flags: '' });
  if (typeof o.patternProperties === 'object' && o.patternProperties !== null) {
    for (const key of Object.keys(o.patternProperties)) out.push({ where: `${where} (property names)`, source: key, flags: '' });
  }
  for (const v of Object.values(o)) schemaPatterns(v, where, out, seen);
};

/** Regular-expression literals in hand-written code, found by the TypeScript parser (not a regex). */
const regexLiterals = (file: string): Found[] => {
  const sf = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Found[] = [];
  const visit = (n: ts.Node) => {
    if (n.kind === ts.SyntaxKind.RegularExpressionLiteral) {
      const text = n.getText(sf);
      const end = text.lastIndexOf('/');
      const { line } = sf.getLineAndCharacterOfPosition(n.getStart(sf));
      out.push({ where: `${file}:${line + 1}`, source: text.slice(1, end), flags: text.slice(end + 1) });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
};

/** Folders whose code reads what clients, devices and providers send. */
const UNTRUSTED_INPUT_CODE = ['api', 'ingest', 'handlers', 'core/http'];

/**
 * Literals there that only ever see our own or the operator's text, never a request: quadratic
 * on a crafted string, but nobody outside can hand them one. Anything new must be safe instead.
 */
const TRUSTED_INPUT: readonly { file: string; source: string; why: string }[] = [
  { file: 'api/openapi.ts', source: '\\{([^}]+)\\}', why: 'path parameters of our own route templates' },
  { file: 'handlers/telegram/grammy.ts', source: '\\/+$', why: 'trailing slashes of the configured API root' },
];
const trusted = (f: Found) => TRUSTED_INPUT.some((t) => f.where.startsWith(`${t.file}:`) && f.source === t.source);

const found: Found[] = [];
const verdicts = new Map<Found, Diagnostics>();

beforeAll(async () => {
  for (const file of sourceFiles('schemas')) {
    const module = (await import(pathToFileURL(join(ROOT, file)).href)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(module)) schemaPatterns(value, `${file} ${name}`, found);
  }
  for (const dir of UNTRUSTED_INPUT_CODE) for (const file of sourceFiles(dir)) found.push(...regexLiterals(file));
  // The pure-JS checker: no JVM or native agent process in the test run.
  process.env.RECHECK_BACKEND = 'pure';
  const { check } = await import('recheck');
  const unique = new Map<string, Diagnostics>();
  for (const f of found) {
    const key = `/${f.source}/${f.flags}`;
    let d = unique.get(key);
    if (!d) {
      d = await check(f.source, f.flags, { checker: 'automaton', timeout: 20_000 });
      unique.set(key, d);
    }
    verdicts.set(f, d);
  }
}, 300_000);

describe('regular expressions on untrusted input (recheck, automaton checker)', () => {
  it('finds the schema patterns and the hand-written ones', () => {
    expect(found.some((f) => f.where.startsWith('schemas/events/email.ts EmailAddress'))).toBe(true);
    expect(found.some((f) => f.where.startsWith('schemas/config.ts'))).toBe(true);
    expect(found.some((f) => f.where.startsWith('api/legacy/'))).toBe(true);
    expect(found.some((f) => f.where.startsWith('ingest/'))).toBe(true);
  });

  it('are all safe: no polynomial or exponential backtracking', () => {
    const unsafe = found
      .filter((f) => verdicts.get(f)?.status !== 'safe' && !trusted(f))
      .map((f) => {
        const d = verdicts.get(f) as Diagnostics;
        const why =
          d.status === 'vulnerable' ? `${d.complexity.type}, attack ${JSON.stringify(d.attack.string.slice(0, 40))}` : d.status;
        return `${f.where}: /${f.source}/${f.flags} is ${why}`;
      });
    expect(unsafe).toEqual([]);
  });
});
