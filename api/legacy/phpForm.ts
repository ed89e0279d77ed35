import { HttpProblem } from '../problemDetails.js';

/** PHP's `max_input_vars` default. PHP drops the rest with a warning; we refuse the form. */
export const MAX_INPUT_VARS = 1_000;
/** PHP's `max_input_nesting_level` default: brackets after the name (`a[b][c]` is 2). */
export const MAX_INPUT_NESTING = 64;

/** Keys that would reach an object's prototype if assigned. */
const UNSAFE = new Set(['__proto__', 'constructor', 'prototype']);

type Node = Record<string, unknown>;

/**
 * Counts the `&`-separated pairs, stopping at `limit + 1`: cheaper than parsing a form that
 * will be refused (URLSearchParams alone takes ~50 ms on 1 MiB).
 */
const pairsUpTo = (raw: string, limit: number): number => {
  let count = 0;
  let start = 0;
  while (start <= raw.length && count <= limit) {
    let end = raw.indexOf('&', start);
    if (end < 0) end = raw.length;
    // Empty pairs (`a=1&&b=2`) are skipped by URLSearchParams and PHP alike.
    if (end > start) count++;
    start = end + 1;
  }
  return count;
};

const NAME = /^([^[\]]+)((?:\[[^[\]]*\])*)$/;
const SEGMENT = /\[([^[\]]*)\]/g;
const INDEX = /^(?:0|[1-9][0-9]{0,14})$/;

/** `a[b][]` → `['a', 'b', '']`; a name PHP would not split stays whole. */
const pathOf = (name: string): string[] => {
  const m = NAME.exec(name);
  return m ? [m[1] as string, ...[...(m[2] as string).matchAll(SEGMENT)].map((x) => x[1] as string)] : [name];
};

/** PHP turns a container whose keys are 0..n-1 into a list (`ids[]=1&ids[]=2` → `[1, 2]` in JSON). */
const lists = (v: unknown): unknown => {
  if (typeof v !== 'object' || v === null) return v;
  const node = v as Node;
  const keys = Object.keys(node);
  for (const k of keys) node[k] = lists(node[k]);
  return keys.length > 0 && keys.every((k, i) => k === String(i)) ? keys.map((k) => node[k]) : node;
};

/**
 * A form body as PHP's `$_POST` reads it: `a[b][c]=1` nests, `a[]=x` appends at the next
 * integer key (one past the largest, as PHP's `nNextFreeElement`), the last of a repeated plain
 * name wins. Values stay text, as in PHP. Linear in the body; more than `MAX_INPUT_VARS` pairs or
 * deeper than `MAX_INPUT_NESTING` brackets is refused with 413 (issue 23).
 */
export const phpForm = (raw: string): Node => {
  const pairs = pairsUpTo(raw, MAX_INPUT_VARS);
  if (pairs > MAX_INPUT_VARS) {
    throw new HttpProblem(
      'GW_ERR_PAYLOAD_TOO_LARGE',
      `the form has more than ${MAX_INPUT_VARS} parameters (PHP's max_input_vars)`,
    );
  }
  const root: Node = {};
  const nextIndex = new Map<Node, number>();
  const put = (node: Node, key: string, value: unknown) => {
    node[key] = value;
    if (INDEX.test(key)) nextIndex.set(node, Math.max(nextIndex.get(node) ?? 0, Number(key) + 1));
  };
  for (const [name, value] of new URLSearchParams(raw)) {
    const path = pathOf(name);
    if (path.length - 1 > MAX_INPUT_NESTING) {
      throw new HttpProblem(
        'GW_ERR_PAYLOAD_TOO_LARGE',
        `the form parameter "${name.length > 64 ? `${name.slice(0, 64)}…` : name}" nests deeper than ${MAX_INPUT_NESTING} levels (PHP's max_input_nesting_level)`,
      );
    }
    if (path.some((k) => UNSAFE.has(k))) continue;
    let node = root;
    path.forEach((segment, i) => {
      const key = segment === '' ? String(nextIndex.get(node) ?? 0) : segment;
      if (i === path.length - 1) {
        put(node, key, value);
        return;
      }
      const next = node[key];
      if (typeof next === 'object' && next !== null) node = next as Node;
      else {
        const child: Node = {};
        put(node, key, child);
        node = child;
      }
    });
  }
  // The body itself stays an object even if its names were 0..n-1.
  for (const k of Object.keys(root)) root[k] = lists(root[k]);
  return root;
};
