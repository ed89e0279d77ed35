import { type Static, Type } from '@sinclair/typebox';

export const AnalyticsQueryRequest = Type.Object(
  { sql: Type.String({ minLength: 1, maxLength: 100_000, description: 'one read-only ClickHouse statement, without FORMAT' }) },
  { additionalProperties: false, $id: 'AnalyticsQueryRequest' },
);
export type AnalyticsQueryRequest = Static<typeof AnalyticsQueryRequest>;

export const AnalyticsQueryResult = Type.Object(
  {
    meta: Type.Array(
      Type.Object({
        name: Type.String(),
        type: Type.String({ description: "the ClickHouse type, e.g. `UInt64`, `Nullable(String)`, `DateTime64(3, 'UTC')`" }),
      }),
      { description: "the columns in order, as ClickHouse's JSON format names them" },
    ),
    rows: Type.Array(Type.Record(Type.String(), Type.Unknown()), {
      description:
        "one object per row. 64-bit and wider integers (`UInt64`, `Int64`, `Int128`, `UInt256`, …) are JSON strings holding the exact value (a JSON number past 2^53 is rounded by most parsers); `meta` gives each column's type",
    }),
    elapsedMs: Type.Number(),
    truncated: Type.Optional(Type.Boolean({ description: 'more rows matched than ANALYTICS_MAX_ROWS; the first ones are here' })),
  },
  { $id: 'AnalyticsQueryResult' },
);
export type AnalyticsQueryResult = Static<typeof AnalyticsQueryResult>;
