/**
 * The dependency rule between fleetgate's folders (ARCHITECTURE.md, "Layout"). A folder is a
 * role (ingest, api, projections, handlers) that talks to the others only through the event log;
 * `core/` is the kernel every role may use; `schemas/` holds declarations. Run by
 * `npm run lint:deps` (part of `npm test`) and by test/core/dependencyRule.test.ts.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'roles-never-import-each-other',
      comment:
        'ingest, api, projections and handlers meet only in the event log: a role importing another ' +
        'would couple their deployments (each runs alone under `fleetgate start --roles`). Move what ' +
        'both need into core/ (code) or schemas/ (declarations).',
      severity: 'error',
      from: { path: '^(ingest|api|projections|handlers)/' },
      to: { path: '^(ingest|api|projections|handlers)/', pathNot: '^$1/' },
    },
    {
      name: 'core-imports-roles-only-in-the-entry',
      comment:
        'core/ is the kernel the roles build on; only the entry (core/cli.ts) wires roles into a ' +
        'process. Anything else in core/ importing a role would make the kernel depend on its users.',
      severity: 'error',
      from: { path: '^core/', pathNot: '^core/cli\\.ts$' },
      to: { path: '^(ingest|api|projections|handlers)/' },
    },
    {
      name: 'schemas-are-declarations-only',
      comment:
        'schemas/ declares events, HTTP bodies, config and errors for every folder; it imports only ' +
        'other schemas and libraries, so a declaration never drags code of a role or the kernel along.',
      severity: 'error',
      from: { path: '^schemas/' },
      to: { path: '^(core|ingest|api|projections|handlers)/' },
    },
  ],
  options: {
    // The source folders only: tests, benches and builds may reach across roles.
    includeOnly: '^(core|schemas|ingest|api|projections|handlers)/',
    exclude: { path: '^(test|bench|dist|node_modules)/' },
    doNotFollow: { path: 'node_modules' },
    // `import type` couples a role to another as much as a value import does.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
