import type { SimPoint } from '../vehicle.js';

export const PROTOCOLS = ['mqtt', 'ws', 'osmand'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
export const isProtocol = (s: string): s is Protocol => (PROTOCOLS as readonly string[]).includes(s);

export interface DeviceCredentials {
  id: string;
  token: string;
}

/** What a transport reports back beside the acknowledgement: points the gateway refused, with its reason. */
export type OnRefused = (deviceId: string, reason: string, count: number) => void;

/** One device's connection (or, for OsmAnd's plain HTTP, its way of sending). */
export interface DeviceLink {
  /** Sends a fix or a buffered batch; resolves once the gateway acknowledged the batch as stored. */
  send(points: SimPoint[]): Promise<void>;
  close(): Promise<void>;
}

export type OpenLink = (device: DeviceCredentials, onRefused: OnRefused) => Promise<DeviceLink>;

/** Offline buffers are sent in batches of at most this many points (below GPS_MAX_POINTS_PER_MESSAGE's default 1,000). */
export const MAX_BATCH = 500;

export const inBatches = async (points: SimPoint[], send: (batch: SimPoint[]) => Promise<void>) => {
  for (let i = 0; i < points.length; i += MAX_BATCH) await send(points.slice(i, i + MAX_BATCH));
};
