import { cruise, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { describe, expect, it } from 'vitest';

const SOURCE_FOLDERS = ['core', 'schemas', 'ingest', 'api', 'projections', 'handlers'];
const FIXTURE = 'test/fixtures/dependencyRule';

/** Cruises `baseDir` with the rules and options of `.dependency-cruiser.cjs` (what `npm run lint:deps` runs). */
const cruiseTree = async (baseDir: string) => {
  const options = await extractDepcruiseOptions('./.dependency-cruiser.cjs');
  const result = await cruise(SOURCE_FOLDERS, { ...options, baseDir }, {}, { tsConfig: extractTSConfig('tsconfig.json') });
  if (typeof result.output === 'string') throw new Error('expected a cruise result, got formatted output');
  return result.output.summary;
};
const violationsIn = async (baseDir: string) => (await cruiseTree(baseDir)).violations;

const described = (vs: IViolation[]) => vs.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();

describe('the dependency rule', () => {
  it('holds for the source tree', async () => {
    const summary = await cruiseTree(process.cwd());
    expect(summary.totalCruised).toBeGreaterThan(100); // the rules saw the tree, not an empty set
    expect(described(summary.violations)).toEqual([]);
  });

  it('reports a role importing another, the kernel importing a role, and a schema importing code', async () => {
    expect(described(await violationsIn(`${process.cwd()}/${FIXTURE}`))).toEqual([
      'core-imports-roles-only-in-the-entry: core/kernelImportsARole.ts → api/readsAProjection.ts',
      'roles-never-import-each-other: api/readsAProjection.ts → projections/positions.ts',
      'roles-never-import-each-other: handlers/typeFromIngest.ts → ingest/intake.ts',
      'schemas-are-declarations-only: schemas/schemaImportsCore.ts → core/log.ts',
    ]);
  });
});
