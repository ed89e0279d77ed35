/** Keys that would reach an object's prototype if assigned. */
const UNSAFE = new Set(['__proto__', 'constructor', 'prototype']);

type Node = Record<string, unknown>;

/** PHP turns a container whose keys are 0..n-1 into a list (`ids[]=1&ids[]=2` → `[1, 2]` in JSON). */
const lists = (v: unknown): unknown => {
  if (typeof v !== 'object' || v === null) return v;
  const node = v as Node;
  const keys = Object.keys(node);
  for (const k of keys) node[k] = lists(node[k]);
  return keys.length > 0 && keys.every((k, i) => k === String(i)) ? keys.map((k) => node[k]) : node;
};

/**
 * A form body as PHP's `$_POST` reads it: `a[b][c]=1` nests, `a[]=x` appends, the last of a
 * repeated plain name wins. Values stay text, as in PHP.
 */
export const phpForm = (params: URLSearchParams): Node => {
  const root: Node = {};
  for (const [name, value] of params) {
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(name);
    const path = m ? [m[1] as string, ...[...(m[2] as string).matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1] as string)] : [name];
    if (path.some((k) => UNSAFE.has(k))) continue;
    let node = root;
    path.forEach((segment, i) => {
      const key = segment === '' ? String(Object.keys(node).length) : segment;
      if (i === path.length - 1) {
        node[key] = value;
        return;
      }
      const next = node[key];
      if (typeof next === 'object' && next !== null) node = next as Node;
      else {
        const child: Node = {};
        node[key] = child;
        node = child;
      }
    });
  }
  // The body itself stays an object even if its names were 0..n-1.
  for (const k of Object.keys(root)) root[k] = lists(root[k]);
  return root;
};
