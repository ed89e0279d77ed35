/**
 * ClickHouse tables by qualified name, as `NNN_*.sql` here creates them: written by a projection,
 * read by the API (track, analytics), so the name lives with the DDL rather than in either role.
 */
export const GPS_TRACKING_TABLE = 'fleetgate.gps_tracking';
