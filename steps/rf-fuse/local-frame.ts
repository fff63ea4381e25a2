// A local east/north plane (km) around a reference point: accurate enough over the tens of km of a gap
// and much cheaper than spherical maths inside the Viterbi and smoothing loops.
import { EARTH_RADIUS_KM } from '../../lib/geo/sphere.js';

const KM_PER_DEG = (Math.PI / 180) * EARTH_RADIUS_KM;

export interface LocalFrame {
  toXY(lat: number, lon: number): { x: number; y: number };
  toLatLon(x: number, y: number): { lat: number; lon: number };
}

export function localFrame(lat0: number, lon0: number): LocalFrame {
  const kmPerDegLon = KM_PER_DEG * Math.cos((lat0 * Math.PI) / 180);
  return {
    toXY: (lat, lon) => {
      let dLon = lon - lon0;
      if (dLon > 180) dLon -= 360;
      if (dLon < -180) dLon += 360;
      return { x: dLon * kmPerDegLon, y: (lat - lat0) * KM_PER_DEG };
    },
    toLatLon: (x, y) => {
      let lon = lon0 + x / kmPerDegLon;
      if (lon > 180) lon -= 360;
      if (lon < -180) lon += 360;
      return { lat: lat0 + y / KM_PER_DEG, lon };
    },
  };
}
