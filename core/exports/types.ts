/** How a column's values are typed in the file: xlsx cells, PDF alignment and totals. */
export type ColumnType = 'text' | 'int' | 'number' | 'money' | 'datetime' | 'bool';

export interface ColumnDef {
  key: string;
  type: ColumnType;
  en: string;
  ru: string;
  /** SQL expression in the entity's store (trusted: from this registry, never from a request). */
  expr: string;
  /** Typical width in characters (xlsx column widths, PDF share of the page). */
  width?: number;
}

/** A filter a request may give: compared with `expr` by `op`. */
export interface FilterDef {
  expr: string;
  op: '=' | '>=' | '<';
  kind: 'text' | 'time';
}

/** A filter after validation: the SQL and its parameter. */
export interface BoundFilter {
  def: FilterDef;
  value: string;
}

export interface EntityDef {
  name: string;
  store: 'postgres' | 'clickhouse';
  /** Table (or FROM clause) the columns read. */
  from: string;
  /** Always-on condition, e.g. tombstones excluded. */
  where?: string;
  orderBy: string;
  /**
   * ClickHouse: the unique sort key, read page by page after the last row's key (keyset), so a
   * client that buffers a whole answer (chdb) holds one page, not the export. `cast` turns the
   * text parameter back into the column's type.
   */
  keyset?: readonly { expr: string; cast: string }[];
  title: { en: string; ru: string };
  columns: readonly ColumnDef[];
  /** Default column list when a request gives none: every column. */
  filters: Readonly<Record<string, FilterDef>>;
}

/** An export's rows: one array per row, values in the chosen column order. */
export type Row = readonly unknown[];
