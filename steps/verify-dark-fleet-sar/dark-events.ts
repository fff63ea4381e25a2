// Dark events (AIS gaps scored by the dark-fleet risk model, outside this pipeline) from a CSV:
// id (UUID), vessel_imo, vessel_mmsi, chokepoint_id, dark_since, last_known_lat/lon/speed/course,
// risk_tier, risk_score. Every cell is checked; errors name file:line and field.
import { StepError } from '../../src/sdk/errors.js';
import { parseTime } from '../transit-reconcile/transits.js';
import { outputColumns } from './verify-dark-fleet-sar.dagrun.js';

export const RISK_TIERS = ['low', 'medium', 'high', 'critical'] as const;


export interface DarkEvent {
  id: string;
  vesselImo: string | null;
  darkSinceMs: number;
  lastKnownLat: number;
  lastKnownLon: number;
  lastKnownSpeed: number | null;
  lastKnownCourse: number | null;
  riskTier: string;
  row: Record<string, unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function parseDarkEvents(text: string, file: string): DarkEvent[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = lines[0].split(',').map((h) => h.trim());
  for (const column of Object.keys(outputColumns.dark_events)) if (!header.includes(column)) throw new StepError(`missing column ${column}`, `${file}:1`);
  const ids = new Set<string>();
  const events: DarkEvent[] = [];
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === '') return;
    const lineNo = i + 2;
    const cells = line.split(',');
    if (cells.length !== header.length) throw new StepError(`${cells.length} cells, the header has ${header.length}`, `${file}:${lineNo}`);
    const cell = (name: string) => {
      const v = cells[header.indexOf(name)].trim();
      return v === '' ? null : v;
    };
    const where = (name: string) => `${file}:${lineNo} field ${name}`;
    const num = (name: string, required: boolean, lo: number, hi: number): number | null => {
      const v = cell(name);
      if (v === null) {
        if (required) throw new StepError(`${name} is missing`, where(name));
        return null;
      }
      const n = Number(v);
      if (!Number.isFinite(n) || n < lo || n > hi) throw new StepError(`${name} "${v}" must be a number in ${lo}…${hi}`, where(name));
      return n;
    };
    const id = (cell('id') ?? '').toLowerCase();
    if (!UUID.test(id)) throw new StepError(`id "${cell('id') ?? ''}" is not a UUID`, where('id'));
    if (ids.has(id)) throw new StepError(`duplicate id ${id}`, where('id'));
    ids.add(id);
    const darkSince = parseTime(cell('dark_since'));
    if (darkSince === null) throw new StepError(`dark_since "${cell('dark_since') ?? ''}" is not a timestamp`, where('dark_since'));
    const tier = cell('risk_tier') ?? '';
    if (!(RISK_TIERS as readonly string[]).includes(tier)) throw new StepError(`risk_tier "${tier}" is not one of ${RISK_TIERS.join(', ')}`, where('risk_tier'));
    const imo = cell('vessel_imo');
    const mmsi = num('vessel_mmsi', false, 0, 999_999_999);
    if (imo === null && mmsi === null) throw new StepError('needs vessel_imo or vessel_mmsi', where('vessel_imo'));
    const course = num('last_known_course', false, 0, 360);
    const event: DarkEvent = {
      id,
      vesselImo: imo,
      darkSinceMs: darkSince,
      lastKnownLat: num('last_known_lat', true, -90, 90) as number,
      lastKnownLon: num('last_known_lon', true, -180, 180) as number,
      lastKnownSpeed: num('last_known_speed', false, 0, 100),
      lastKnownCourse: course === 360 ? 0 : course,
      riskTier: tier,
      row: {},
    };
    event.row = {
      id,
      vessel_imo: imo,
      vessel_mmsi: mmsi,
      chokepoint_id: cell('chokepoint_id'),
      dark_since: new Date(darkSince).toISOString(),
      last_known_lat: event.lastKnownLat,
      last_known_lon: event.lastKnownLon,
      last_known_speed: event.lastKnownSpeed,
      last_known_course: event.lastKnownCourse,
      risk_tier: tier,
      risk_score: num('risk_score', true, 0, 1),
    };
    events.push(event);
  });
  return events;
}
