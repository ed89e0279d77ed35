/** Small-distance geometry on the WGS 84 sphere: enough for a city, in metres and degrees. */
export interface LatLon {
  lat: number;
  lon: number;
}

const EARTH_RADIUS_M = 6_371_008.8;
const rad = (d: number) => (d * Math.PI) / 180;
const deg = (r: number) => (r * 180) / Math.PI;

/** Great-circle distance in metres (haversine). */
export const distanceM = (a: LatLon, b: LatLon) => {
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
};

/** Initial bearing from `a` to `b`, degrees clockwise from north in [0, 360). */
export const bearingDeg = (a: LatLon, b: LatLon) => {
  const y = Math.sin(rad(b.lon - a.lon)) * Math.cos(rad(b.lat));
  const x =
    Math.cos(rad(a.lat)) * Math.sin(rad(b.lat)) - Math.sin(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.cos(rad(b.lon - a.lon));
  return (deg(Math.atan2(y, x)) + 360) % 360;
};

/** The point `east` and `north` metres from `origin` (flat-earth: fine within tens of km). */
export const offsetM = (origin: LatLon, east: number, north: number): LatLon => ({
  lat: origin.lat + deg(north / EARTH_RADIUS_M),
  lon: origin.lon + deg(east / (EARTH_RADIUS_M * Math.cos(rad(origin.lat)))),
});

/** The point a fraction `f` of the way from `a` to `b` (linear: legs are a few hundred metres). */
export const interpolate = (a: LatLon, b: LatLon, f: number): LatLon => ({
  lat: a.lat + (b.lat - a.lat) * f,
  lon: a.lon + (b.lon - a.lon) * f,
});
