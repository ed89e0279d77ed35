/**
 * Type-level test, checked by `npm run typecheck` (not run by vitest): a fold that neither
 * handles nor lists as ignored one type of its domain fails typecheck at `unhandledEvent(e)`.
 * If that check stopped working, the `@ts-expect-error` below would be unused and fail instead.
 */
import { Type } from '@sinclair/typebox';
import type { FoldProjection } from '../../core/runners/projection.js';
import { readsDomains } from '../../core/runners/projection.js';
import { defineEvent, type EventUnion, eventDomain, unhandledEvent } from '../../schemas/events/define.js';

const testEvents = eventDomain({
  opened: defineEvent('test.opened', Type.Object({ id: Type.String() })),
  closed: defineEvent('test.closed', Type.Object({ id: Type.String() })),
  forgotten: defineEvent('test.forgotten', Type.Object({ id: Type.String() })),
});
type TestEvent = EventUnion<typeof testEvents.defs>;

export const exhaustive: FoldProjection<TestEvent> = {
  kind: 'fold',
  name: 'test_exhaustive',
  stream: 'EVENTS',
  reads: readsDomains(testEvents),
  async apply(_tx, events) {
    for (const e of events) {
      switch (e.type) {
        case 'test.opened':
        case 'test.closed':
          break;
        // Ignored on purpose: listed, so the switch is exhaustive.
        case 'test.forgotten':
          break;
        default:
          unhandledEvent(e);
      }
    }
  },
  async reset() {},
};

export const missingOne: FoldProjection<TestEvent> = {
  kind: 'fold',
  name: 'test_missing_one',
  stream: 'EVENTS',
  reads: readsDomains(testEvents),
  async apply(_tx, events) {
    for (const e of events) {
      switch (e.type) {
        case 'test.opened':
        case 'test.closed':
          break;
        default:
          // `test.forgotten` is neither handled nor listed as ignored:
          // @ts-expect-error -- Argument of type '... { type: "test.forgotten" ... }' is not assignable to parameter of type 'never'.
          unhandledEvent(e);
      }
    }
  },
  async reset() {},
};
