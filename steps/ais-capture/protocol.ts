// The aisstream.io subscription protocol, shared by the client and the replay server.
// After the socket opens the client sends one JSON message:
//   { "APIKey": "...", "BoundingBoxes": [[[lat, lon], [lat, lon]], ...], "FilterMessageTypes": ["PositionReport", ...] }
// then receives one JSON envelope per WebSocket message. A refused subscription gets {"error": "..."}
// and the server closes the socket.

export type LatLon = [number, number];
export type BoundingBox = [LatLon, LatLon];

export interface Subscription {
  APIKey: string;
  BoundingBoxes: BoundingBox[];
  FilterMessageTypes?: string[];
  FiltersShipMMSI?: string[];
}

/** What the server answers to a subscription it refuses (aisstream sends a JSON object with `error`). */
export const INVALID_KEY_ERROR = 'Api Key Is Not Valid';

/** Close reason the replay server uses when its recording is exhausted (a live server never ends). */
export const END_OF_RECORDING = 'end of recording';

/** A box from two opposite corners as aisstream takes them ([[lat, lon], [lat, lon]], any two corners). */
export function boxFromBounds(minLat: number, minLon: number, maxLat: number, maxLon: number): BoundingBox {
  return [
    [minLat, minLon],
    [maxLat, maxLon],
  ];
}

export function inBox(lat: number, lon: number, box: BoundingBox): boolean {
  const [[lat1, lon1], [lat2, lon2]] = box;
  return lat >= Math.min(lat1, lat2) && lat <= Math.max(lat1, lat2) && lon >= Math.min(lon1, lon2) && lon <= Math.max(lon1, lon2);
}

/** Check a subscription's shape; returns a sentence naming the first problem, or null. */
export function subscriptionProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'subscription is not a JSON object';
  const s = value as Record<string, unknown>;
  if (typeof s.APIKey !== 'string' || s.APIKey === '') return 'APIKey is missing';
  if (!Array.isArray(s.BoundingBoxes)) return 'BoundingBoxes is missing';
  for (const box of s.BoundingBoxes) {
    const ok =
      Array.isArray(box) &&
      box.length === 2 &&
      box.every((corner) => Array.isArray(corner) && corner.length === 2 && corner.every((n) => typeof n === 'number' && Number.isFinite(n)));
    if (!ok) return 'each bounding box must be [[lat, lon], [lat, lon]]';
  }
  if (s.FilterMessageTypes !== undefined && !(Array.isArray(s.FilterMessageTypes) && s.FilterMessageTypes.every((t) => typeof t === 'string'))) {
    return 'FilterMessageTypes must be a list of message type names';
  }
  return null;
}

/** Whether an envelope passes a subscription's filters (message type, MMSI, position in a box). */
export function matchesSubscription(
  message: { type: string; mmsi: string | null; lat: number | null; lon: number | null },
  subscription: Subscription,
): boolean {
  const types = subscription.FilterMessageTypes;
  if (types && types.length > 0 && !types.includes(message.type)) return false;
  const mmsis = subscription.FiltersShipMMSI;
  if (mmsis && mmsis.length > 0 && (message.mmsi === null || !mmsis.includes(message.mmsi))) return false;
  if (message.lat === null || message.lon === null) return false;
  return subscription.BoundingBoxes.some((box) => inBox(message.lat as number, message.lon as number, box));
}
