import { XMLBuilder } from 'fast-xml-parser';
import type { TrackPoint } from '../../schemas/http/vehicles.js';

/** Garmin's TrackPointExtension v2: the speed and course that GPX 1.1 itself has no element for. */
const GPXTPX = 'http://www.garmin.com/xmlschemas/TrackPointExtension/v2';

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@', suppressEmptyNode: true });

/**
 * A track as GPX 1.1 (one `trk`, one `trkseg`), for the tools fleets already use (Traccar users
 * ask for GPX export: traccar#958, #4631). Elevation and time are GPX's own; speed (m/s) and
 * course (degrees) go in Garmin's TrackPointExtension, which Garmin, Strava, GPSBabel and QGIS read.
 */
export const trackToGpx = (deviceId: string, points: readonly TrackPoint[]): string => {
  const trkpt = points.map((p) => {
    const ext: Record<string, number> = {};
    if (p.speed !== null) ext['gpxtpx:speed'] = Math.round((p.speed / 3.6) * 1000) / 1000;
    if (p.heading !== null) ext['gpxtpx:course'] = p.heading;
    return {
      '@lat': p.lat,
      '@lon': p.lon,
      ...(p.alt !== null ? { ele: p.alt } : {}),
      time: new Date(p.ts).toISOString(),
      ...(Object.keys(ext).length > 0 ? { extensions: { 'gpxtpx:TrackPointExtension': ext } } : {}),
    };
  });
  const doc = {
    '?xml': { '@version': '1.0', '@encoding': 'UTF-8' },
    gpx: {
      '@version': '1.1',
      '@creator': 'fleetgate',
      '@xmlns': 'http://www.topografix.com/GPX/1/1',
      '@xmlns:gpxtpx': GPXTPX,
      trk: { name: deviceId, trkseg: { trkpt } },
    },
  };
  return builder.build(doc) as string;
};
