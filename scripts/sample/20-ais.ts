// Embedded sample, part "ais": a synthetic aisstream.io recording of ships in the Solent (tile 30UXB)
// around the Sentinel-2 passes of 2026-05-25 and 2026-05-26 (about 09:30–12:50 UTC each day), written
// as the NDJSON the replay server streams, plus a small "chip from AIS file" upload (seed 001 §7).
// Deterministic: a seeded PRNG, no clock, no real data. Ships follow hand-placed routes on water.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { seededRandom, gaussian } from '../../src/sdk/random.js';
import { haversineKm, bearingDeg, destinationPoint } from '../../lib/geo/sphere.js';

/** Waypoints as [lon, lat], all on water (checked against Natural Earth land in test/steps/ais-sample.test.ts). */
const ROUTES: Record<string, [number, number][]> = {
  // Southampton → Southampton Water → Calshot → Cowes Roads → Spithead → Nab (the deep-water channel)
  mainChannel: [[-1.375, 50.875], [-1.345, 50.855], [-1.315, 50.835], [-1.285, 50.815], [-1.27, 50.79], [-1.2, 50.775], [-1.13, 50.755], [-1.075, 50.735], [-1.02, 50.71], [-0.96, 50.665]],
  // Red Funnel: Southampton → Cowes
  cowesFerry: [[-1.375, 50.875], [-1.345, 50.855], [-1.315, 50.835], [-1.285, 50.815], [-1.29, 50.782]],
  // Portsmouth Harbour entrance → Ryde pier
  rydeFerry: [[-1.115, 50.795], [-1.13, 50.765], [-1.155, 50.745]],
  // Lymington → Yarmouth
  yarmouthFerry: [[-1.52, 50.745], [-1.505, 50.725], [-1.505, 50.715]],
  // Western Solent: Cowes Roads → Hurst narrows → Needles channel
  westernSolent: [[-1.27, 50.79], [-1.36, 50.775], [-1.45, 50.745], [-1.53, 50.712], [-1.565, 50.695], [-1.6, 50.672]],
  // Eastern approaches: Spithead → St Helens Roads → open sea east of the island
  eastSolent: [[-1.13, 50.755], [-1.075, 50.735], [-1.04, 50.7], [-1.0, 50.64]],
};

/** Anchorages [lon, lat]. */
const ANCHORAGES: [number, number][] = [[-1.04, 50.72], [-1.1, 50.745], [-1.0, 50.7], [-0.98, 50.67], [-1.23, 50.778], [-1.05, 50.73]];

type Kind = 'ferry' | 'transit' | 'anchored' | 'workboat' | 'yacht';

interface Ship {
  mmsi: number;
  name: string;
  callSign: string;
  imo: number;
  type: number;
  kind: Kind;
  classB: boolean;
  route: [number, number][];
  speedKn: number;
  /** Ferries: minutes moored at each end. */
  dwellMin: number;
  /** Fraction of the route cycle at the start of the day. */
  phase: number;
  anchor?: [number, number];
  reportSec: number;
  dims: { A: number; B: number; C: number; D: number };
}

const NAMES = ['SOLENT STAR', 'RED OSPREY', 'WIGHT SKY', 'ST CLARE', 'VICTORIA OF WIGHT', 'WIGHT LIGHT', 'RED EAGLE', 'RED FALCON', 'CALSHOT', 'HAMBLE SPIRIT', 'NAB PILOT', 'SPITHEAD', 'BRAMBLE', 'NEEDLES', 'HURST', 'FAWLEY TRADER', 'ITCHEN', 'TEST RIVER', 'MEON', 'BEAULIEU', 'LEPE', 'OSBORNE', 'BEMBRIDGE', 'SEAVIEW', 'RYDE', 'NETLEY', 'HYTHE', 'WARSASH', 'EXBURY', 'KEYHAVEN', 'GURNARD', 'THORNESS', 'NEWTOWN', 'TOTLAND', 'FRESHWATER', 'ATHERFIELD', 'VENTNOR', 'SHANKLIN', 'SANDOWN', 'ST HELENS'];

function makeFleet(random: () => number): Ship[] {
  const ships: Ship[] = [];
  const pick = <T,>(items: T[]): T => items[Math.floor(random() * items.length)];
  const plan: [Kind, number][] = [['ferry', 8], ['transit', 10], ['anchored', 8], ['workboat', 6], ['yacht', 8]];
  let n = 0;
  for (const [kind, count] of plan) {
    for (let i = 0; i < count; i++, n++) {
      const classB = kind === 'yacht';
      const route =
        kind === 'ferry' ? ROUTES[pick(['cowesFerry', 'rydeFerry', 'yarmouthFerry'])] :
        kind === 'transit' ? ROUTES[pick(['mainChannel', 'mainChannel', 'westernSolent', 'eastSolent'])] :
        kind === 'workboat' ? ROUTES[pick(['mainChannel', 'eastSolent', 'cowesFerry'])] :
        ROUTES[pick(['westernSolent', 'eastSolent', 'rydeFerry'])];
      const speedKn =
        kind === 'ferry' ? 14 + random() * 8 :
        kind === 'transit' ? 10 + random() * 6 :
        kind === 'workboat' ? 4 + random() * 5 :
        kind === 'yacht' ? 3 + random() * 4 : 0;
      const length = kind === 'transit' ? 150 + Math.floor(random() * 200) : kind === 'ferry' ? 40 + Math.floor(random() * 60) : kind === 'anchored' ? 120 + Math.floor(random() * 150) : 10 + Math.floor(random() * 25);
      const beam = Math.max(3, Math.round(length / (5 + random() * 3)));
      const mmsi = classB ? 235_100_000 + Math.floor(random() * 899_999) : 232_000_000 + Math.floor(random() * 9_999_999);
      ships.push({
        mmsi,
        name: NAMES[n % NAMES.length],
        callSign: `${pick(['M', '2', 'G'])}${String.fromCharCode(65 + Math.floor(random() * 26))}${String.fromCharCode(65 + Math.floor(random() * 26))}${Math.floor(random() * 90 + 10)}`,
        imo: classB ? 0 : 9_000_000 + Math.floor(random() * 999_999),
        type: kind === 'ferry' ? 60 : kind === 'transit' ? pick([70, 71, 80, 79]) : kind === 'anchored' ? pick([70, 80, 89]) : kind === 'workboat' ? pick([52, 50, 31]) : 36,
        kind,
        classB,
        route,
        speedKn,
        dwellMin: kind === 'ferry' ? 8 + random() * 10 : 0,
        phase: random(),
        anchor: kind === 'anchored' ? ANCHORAGES[i % ANCHORAGES.length] : undefined,
        reportSec: kind === 'anchored' ? 480 : classB ? 300 : kind === 'ferry' ? 150 : 240,
        dims: { A: Math.round(length * 0.7), B: length - Math.round(length * 0.7), C: Math.round(beam / 2), D: beam - Math.round(beam / 2) },
      });
    }
  }
  return ships;
}

/** Position, course and speed of a ship moving back and forth along its route. */
function stateAt(ship: Ship, tSec: number, random: () => number): { lon: number; lat: number; cog: number; sog: number } {
  if (ship.kind === 'anchored' && ship.anchor) {
    // Swinging at anchor: metres of drift around the anchor point.
    const drift = destinationPoint(ship.anchor[1], ship.anchor[0], (tSec / 60) % 360, 0.03 + 0.01 * Math.sin(tSec / 900));
    return { lon: drift.lon, lat: drift.lat, cog: (tSec / 60) % 360, sog: Math.abs(gaussian(random)) * 0.15 };
  }
  const legs = ship.route.slice(1).map((b, i) => haversineKm(ship.route[i][1], ship.route[i][0], b[1], b[0]));
  const lengthKm = legs.reduce((a, b) => a + b, 0);
  const travelSec = (lengthKm / (ship.speedKn * 1.852)) * 3600;
  const dwellSec = ship.dwellMin * 60;
  const cycle = 2 * (travelSec + dwellSec);
  const u = (((tSec + ship.phase * cycle) % cycle) + cycle) % cycle;
  let distanceKm: number;
  let forward = true;
  let moving = true;
  if (u < travelSec) distanceKm = (u / travelSec) * lengthKm;
  else if (u < travelSec + dwellSec) [distanceKm, moving] = [lengthKm, false];
  else if (u < 2 * travelSec + dwellSec) [distanceKm, forward] = [lengthKm - ((u - travelSec - dwellSec) / travelSec) * lengthKm, false];
  else [distanceKm, moving] = [0, false];
  let remaining = Math.min(distanceKm, lengthKm - 1e-9);
  let leg = 0;
  while (leg < legs.length - 1 && remaining > legs[leg]) remaining -= legs[leg++];
  const [a, b] = [ship.route[leg], ship.route[leg + 1]];
  const bearing = bearingDeg(a[1], a[0], b[1], b[0]);
  const p = destinationPoint(a[1], a[0], bearing, Math.max(0, remaining));
  const cog = forward ? bearing : (bearing + 180) % 360;
  const sog = moving ? Math.max(0.5, ship.speedKn + gaussian(random) * 0.4) : Math.abs(gaussian(random)) * 0.1;
  // GPS noise: a few metres.
  return { lon: p.lon + gaussian(random) * 0.00003, lat: p.lat + gaussian(random) * 0.00002, cog: (cog + gaussian(random) * 2 + 360) % 360, sog };
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

function timeUtc(ms: number, random: () => number): string {
  const iso = new Date(ms).toISOString();
  const nanos = String(Math.floor(random() * 1e9)).padStart(9, '0');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${nanos} +0000 UTC`;
}

function positionMessage(ship: Ship, ms: number, s: { lon: number; lat: number; cog: number; sog: number }, random: () => number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const type = ship.classB ? 'StandardClassBPositionReport' : 'PositionReport';
  const lat = round(s.lat, 6);
  const lon = round(s.lon, 6);
  const body: Record<string, unknown> = ship.classB
    ? {
        AssignedMode: false, ClassBBand: true, ClassBDisplay: false, ClassBDsc: true, ClassBMsg22: true, ClassBUnit: true,
        Cog: round(s.cog, 1), CommunicationState: 393222, CommunicationStateIsItdma: true, Latitude: lat, Longitude: lon,
        MessageID: 18, PositionAccuracy: false, Raim: false, RepeatIndicator: 0, Sog: round(s.sog, 1), Spare1: 0, Spare2: 0,
        Timestamp: new Date(ms).getUTCSeconds(), TrueHeading: 511, UserID: ship.mmsi, Valid: true,
      }
    : {
        Cog: round(s.cog, 1), CommunicationState: 59916 + Math.floor(random() * 1000), Latitude: lat, Longitude: lon, MessageID: 1,
        NavigationalStatus: ship.kind === 'anchored' ? 1 : s.sog < 0.3 ? 5 : 0, PositionAccuracy: true, Raim: false,
        RateOfTurn: 0, RepeatIndicator: 0, Sog: round(s.sog, 1), Spare: 0, SpecialManoeuvreIndicator: 0,
        Timestamp: new Date(ms).getUTCSeconds(), TrueHeading: ship.kind === 'anchored' ? Math.round(s.cog) : Math.round((s.cog + gaussian(random) * 3 + 360) % 360), UserID: ship.mmsi, Valid: true,
      };
  Object.assign(body, overrides);
  return {
    Message: { [type]: body },
    MessageType: type,
    MetaData: { MMSI: ship.mmsi, MMSI_String: ship.mmsi, ShipName: ship.name.padEnd(20, ' '), latitude: round(lat, 5), longitude: round(lon, 5), time_utc: timeUtc(ms, random) },
  };
}

function staticMessage(ship: Ship, ms: number, s: { lon: number; lat: number }, random: () => number): Record<string, unknown> {
  return {
    Message: {
      ShipStaticData: {
        AisVersion: 2, CallSign: ship.callSign.padEnd(7, ' '), Destination: 'GBSOU'.padEnd(20, ' '), Dimension: ship.dims, Dte: false,
        Eta: { Day: 26, Hour: 14, Minute: 0, Month: 5 }, FixType: 1, ImoNumber: ship.imo, MaximumStaticDraught: round(4 + random() * 8, 1),
        MessageID: 5, Name: ship.name.padEnd(20, ' '), RepeatIndicator: 0, Spare: false, Type: ship.type, UserID: ship.mmsi, Valid: true,
      },
    },
    MessageType: 'ShipStaticData',
    MetaData: { MMSI: ship.mmsi, MMSI_String: ship.mmsi, ShipName: ship.name.padEnd(20, ' '), latitude: round(s.lat, 5), longitude: round(s.lon, 5), time_utc: timeUtc(ms, random) },
  };
}

export const SAMPLE_DATES = ['2026-05-25', '2026-05-26'] as const;
/** Each day's recording covers this UTC span (±90 min around the ~11:00–11:20 Solent passes, with margin). */
export const RECORDING_START = '09:30:00';
export const RECORDING_END = '12:50:00';

/** The recording as lines (time order), for tests and the generator. */
export function sampleStreamLines(): string[] {
  const fleetRandom = seededRandom(20_260_525);
  const fleet = makeFleet(fleetRandom);
  const events: { ms: number; order: number; line: string }[] = [];
  let order = 0;
  for (const date of SAMPLE_DATES) {
    const random = seededRandom(date === '2026-05-25' ? 25 : 26);
    const startMs = Date.parse(`${date}T${RECORDING_START}Z`);
    const endMs = Date.parse(`${date}T${RECORDING_END}Z`);
    for (const ship of fleet) {
      const dayOffset = random() * 3600;
      let nextStatic = startMs + random() * 600_000;
      for (let ms = startMs + Math.floor(random() * ship.reportSec * 1000); ms < endMs; ms += Math.round(ship.reportSec * 1000 * (0.8 + random() * 0.4))) {
        const state = stateAt(ship, (ms - startMs) / 1000 + dayOffset, random);
        events.push({ ms, order: order++, line: JSON.stringify(positionMessage(ship, ms, state, random)) });
        if (!ship.classB && ms >= nextStatic) {
          events.push({ ms: ms + 150, order: order++, line: JSON.stringify(staticMessage(ship, ms + 150, state, random)) });
          nextStatic = ms + 1_200_000;
        }
      }
    }
    // A few invalid messages for the rejects path (one of each kind), and AIS "not available" codes.
    const victim = fleet[0];
    const at = Date.parse(`${date}T11:05:00Z`);
    const s = stateAt(victim, 3000, random);
    events.push({ ms: at, order: order++, line: JSON.stringify(positionMessage(victim, at, { ...s, lat: 91, lon: 181 }, random)) });
    const badTime = positionMessage(victim, at + 1000, s, random);
    (badTime.MetaData as Record<string, unknown>).time_utc = '2026-05-xx 11:05:01 +0000 UTC';
    events.push({ ms: at + 1000, order: order++, line: JSON.stringify(badTime) });
    events.push({ ms: at + 2000, order: order++, line: JSON.stringify(positionMessage(victim, at + 2000, s, random)).slice(0, 120) });
    // The same report heard twice: times differ below a microsecond, so the normalised rows are equal.
    const twice = positionMessage(fleet[1], at + 3000, stateAt(fleet[1], 3003, random), random);
    const copy = structuredClone(twice);
    const meta = copy.MetaData as Record<string, string>;
    meta.time_utc = meta.time_utc.replace(/(\.\d{6})\d{3}/, '$1999');
    events.push({ ms: at + 3000, order: order++, line: JSON.stringify(twice) });
    events.push({ ms: at + 3000, order: order++, line: JSON.stringify(copy) });
    events.push({ ms: at + 4000, order: order++, line: JSON.stringify(positionMessage(fleet[2], at + 4000, stateAt(fleet[2], 3004, random), random, { Sog: 102.3, TrueHeading: 511, Cog: 360 })) });
  }
  events.sort((a, b) => a.ms - b.ms || a.order - b.order);
  return events.map((e) => e.line);
}

/** A user upload for "chip from AIS file": mmsi, lat, lon, overpass_time (one row invalid on purpose). */
export function sampleUploadCsv(): string {
  const rows = [
    'mmsi,lat,lon,overpass_time',
    '232004512,50.7612,-1.2105,2026-05-25T11:08:00Z',
    '232008871,50.7420,-1.1530,2026-05-25T11:08:30Z',
    '235101234,50.7010,-1.0480,2026-05-25T11:09:10Z',
    '232001177,50.8180,-1.3170,2026-05-26T11:01:00Z',
    '232006658,50.7710,-1.3600,2026-05-26T11:02:45Z',
    '232009999,91,181,2026-05-26T11:03:00Z',
  ];
  return `${rows.join('\n')}\n`;
}

export async function generate(root: string): Promise<void> {
  const dir = join(root, 'datasets', 'sample', 'ais');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'stream.ndjson'), `${sampleStreamLines().join('\n')}\n`);
  await writeFile(join(dir, 'user_upload.csv'), sampleUploadCsv());
}
