-- The read-only ClickHouse user that POST /api/v1/analytics/query runs as in server mode
-- (CLICKHOUSE_URL set). Put a long random password in place of CHANGE_ME (only its SHA-256 is
-- stored) and run it once as an administrator:
--   sed "s/CHANGE_ME/$CLICKHOUSE_ANALYTICS_PASSWORD/" analytics_user.sql | clickhouse-client --multiquery
-- then give the gateway CLICKHOUSE_ANALYTICS_USER=fleetgate_analyst and the same
-- CLICKHOUSE_ANALYTICS_PASSWORD. Without them the analytics client uses CLICKHOUSE_URL's user,
-- with readonly=1 and the same limits sent per query, but that user can read every database.
--
-- Keep the profile's MAX values at or above the gateway's ANALYTICS_* variables: the gateway
-- sends those as per-query settings, and a value above a MAX is refused
-- (SETTING_CONSTRAINT_VIOLATION). The defaults below are the variables' defaults
-- (ANALYTICS_MAX_ROWS 100000, ANALYTICS_MAX_SECONDS 30, ANALYTICS_MAX_MEMORY_BYTES 1 GiB,
-- ANALYTICS_MAX_READ_BYTES 10 GiB, ANALYTICS_MAX_RESULT_BYTES 16 MiB).
--
-- Also set <select_from_system_db_requires_grant>true</select_from_system_db_requires_grant>
-- and <select_from_information_schema_requires_grant>true</...> in the server's config.xml
-- (access_control_improvements): without them every user may read system.* tables.

-- readonly = 2: ClickHouse refuses every write and DDL, yet the gateway may still send its
-- per-query limits; the constraints keep an analyst's SETTINGS clause (also in a subquery) from
-- raising any limit or lowering readonly.
CREATE SETTINGS PROFILE IF NOT EXISTS fleetgate_analytics SETTINGS
    readonly = 2 CONST,
    allow_ddl = 0 CONST,
    allow_introspection_functions = 0 CONST,
    max_result_rows = 100001 MAX 100001,
    max_result_bytes = 16777216 MAX 16777216,
    result_overflow_mode = 'break',
    max_execution_time = 30 MAX 30,
    max_memory_usage = 1073741824 MAX 1073741824,
    max_bytes_to_read = 10737418240 MAX 10737418240,
    read_overflow_mode = 'throw',
    -- 64-bit integers as JSON strings (a JSON number past 2^53 is rounded by most clients).
    output_format_json_quote_64bit_integers = 1;

CREATE ROLE IF NOT EXISTS fleetgate_analytics_reader;
-- SELECT on database fleetgate only: no other database, no system secrets (system.users,
-- system.named_collections, ...), no table functions (file(), url(), s3(), remote(),
-- executable() need CREATE TEMPORARY TABLE and READ ON their source, neither granted), and no
-- INTO OUTFILE (the gateway refuses it; the HTTP interface has no client file to write).
GRANT SELECT ON fleetgate.* TO fleetgate_analytics_reader;

CREATE USER IF NOT EXISTS fleetgate_analyst
    IDENTIFIED WITH sha256_password BY 'CHANGE_ME'
    DEFAULT ROLE fleetgate_analytics_reader
    SETTINGS PROFILE fleetgate_analytics
    DEFAULT DATABASE fleetgate;
GRANT fleetgate_analytics_reader TO fleetgate_analyst;
