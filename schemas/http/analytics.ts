import { type Static, Type } from '@sinclair/typebox';

export const AnalyticsQueryRequest = Type.Object(
  { sql: Type.String({ minLength: 1, maxLength: 100_000, description: 'one read-only ClickHouse statement, without FORMAT' }) },
  { additionalProperties: false, $id: 'AnalyticsQueryRequest' },
);
export type AnalyticsQueryRequest = Static<typeof AnalyticsQueryRequest>;

export const AnalyticsQueryResult = Type.Object(
  {
    rows: Type.Array(Type.Record(Type.String(), Type.Unknown()), {
      description: 'one object per row, as ClickHouse writes JSONEachRow',
    }),
    elapsedMs: Type.Number(),
    truncated: Type.Optional(Type.Boolean({ description: 'more rows matched than ANALYTICS_MAX_ROWS; the first ones are here' })),
  },
  { $id: 'AnalyticsQueryResult' },
);
export type AnalyticsQueryResult = Static<typeof AnalyticsQueryResult>;
