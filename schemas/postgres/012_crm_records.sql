-- CRM records mirrored from the CRM (issue 14): one read model per record type, written only by
-- the `records` projection (projections/records.ts). A row is the newest version the log holds;
-- a deleted record stays as a tombstone (deleted = true) so a late, older upsert cannot bring it
-- back. `history` lists the log sequences of the messages that changed the row, oldest first
-- (a batch is one message for many records, so the subject alone cannot say). `occurred_at` is
-- an application's createdAt, and for the other types when the record last changed.

CREATE TABLE IF NOT EXISTS companies (
  id             text        PRIMARY KEY,
  version        bigint      NOT NULL,
  deleted        boolean     NOT NULL DEFAULT false,
  status         text,
  company_id     text,
  driver_id      text,
  vehicle_id     text,
  name           text,
  phone          text,
  search         text,
  fields         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  attributes     jsonb       NOT NULL DEFAULT '{}'::jsonb,
  source         text        NOT NULL,
  occurred_at    timestamptz NOT NULL,
  changed_at     timestamptz NOT NULL,
  last_seq       bigint      NOT NULL,
  history        bigint[]    NOT NULL DEFAULT '{}'
);
-- The list is keyset-paginated on id; each filter walks its own index in id order.
CREATE INDEX IF NOT EXISTS companies_status ON companies (status, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS companies_company ON companies (company_id, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS companies_driver ON companies (driver_id, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS companies_vehicle ON companies (vehicle_id, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS companies_occurred ON companies (occurred_at) WHERE NOT deleted;

CREATE TABLE IF NOT EXISTS drivers (
  id             text        PRIMARY KEY,
  version        bigint      NOT NULL,
  deleted        boolean     NOT NULL DEFAULT false,
  status         text,
  company_id     text,
  driver_id      text,
  vehicle_id     text,
  name           text,
  phone          text,
  search         text,
  fields         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  attributes     jsonb       NOT NULL DEFAULT '{}'::jsonb,
  source         text        NOT NULL,
  occurred_at    timestamptz NOT NULL,
  changed_at     timestamptz NOT NULL,
  last_seq       bigint      NOT NULL,
  history        bigint[]    NOT NULL DEFAULT '{}'
);
-- The list is keyset-paginated on id; each filter walks its own index in id order.
CREATE INDEX IF NOT EXISTS drivers_status ON drivers (status, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS drivers_company ON drivers (company_id, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS drivers_driver ON drivers (driver_id, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS drivers_vehicle ON drivers (vehicle_id, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS drivers_occurred ON drivers (occurred_at) WHERE NOT deleted;

CREATE TABLE IF NOT EXISTS vehicles (
  id             text        PRIMARY KEY,
  version        bigint      NOT NULL,
  deleted        boolean     NOT NULL DEFAULT false,
  status         text,
  company_id     text,
  driver_id      text,
  vehicle_id     text,
  name           text,
  phone          text,
  search         text,
  gps_device_ids text[]      NOT NULL DEFAULT '{}',
  fields         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  attributes     jsonb       NOT NULL DEFAULT '{}'::jsonb,
  source         text        NOT NULL,
  occurred_at    timestamptz NOT NULL,
  changed_at     timestamptz NOT NULL,
  last_seq       bigint      NOT NULL,
  history        bigint[]    NOT NULL DEFAULT '{}'
);
-- The list is keyset-paginated on id; each filter walks its own index in id order.
CREATE INDEX IF NOT EXISTS vehicles_status ON vehicles (status, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS vehicles_company ON vehicles (company_id, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS vehicles_driver ON vehicles (driver_id, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS vehicles_vehicle ON vehicles (vehicle_id, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS vehicles_occurred ON vehicles (occurred_at) WHERE NOT deleted;

CREATE TABLE IF NOT EXISTS applications (
  id             text        PRIMARY KEY,
  version        bigint      NOT NULL,
  deleted        boolean     NOT NULL DEFAULT false,
  status         text,
  company_id     text,
  driver_id      text,
  vehicle_id     text,
  name           text,
  phone          text,
  search         text,
  fields         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  attributes     jsonb       NOT NULL DEFAULT '{}'::jsonb,
  source         text        NOT NULL,
  occurred_at    timestamptz NOT NULL,
  changed_at     timestamptz NOT NULL,
  last_seq       bigint      NOT NULL,
  history        bigint[]    NOT NULL DEFAULT '{}'
);
-- The list is keyset-paginated on id; each filter walks its own index in id order.
CREATE INDEX IF NOT EXISTS applications_status ON applications (status, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS applications_company ON applications (company_id, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS applications_driver ON applications (driver_id, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS applications_vehicle ON applications (vehicle_id, id) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS applications_occurred ON applications (occurred_at) WHERE NOT deleted;

-- GET /api/v1/vehicles/positions and the live map find a unit's vehicle by its device id.
CREATE INDEX IF NOT EXISTS vehicles_gps_devices ON vehicles USING gin (gps_device_ids);
