/**
 * A zone's wall clock through Intl (no tz library in the dependencies): year…second as numbers
 * in `formatToParts`, 24-hour. One formatter per zone, kept: building one costs far more than
 * using it, and the zones in use are few (configured ones). Throws RangeError for a zone Intl does
 * not know.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();

export const wallClockFormatter = (timeZone: string): Intl.DateTimeFormat => {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
};
