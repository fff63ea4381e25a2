// Historical AIS files → the normalised AIS table: NOAA MarineCadastre (17 columns), Danish Maritime
// Authority aisdk (22 columns), and a user's table with mmsi, lat, lon[, overpass_time] (seed 001 §7)
// under common column-name variants. Each row becomes a position or a reject with reason and place.
import { StepError } from '../../src/sdk/errors.js';
import { splitExactDuplicates, toText, validateFix, type AisPosition, type NulledField, type RawFix, type Reject } from '../../lib/maritime/ais.js';
import { parseUtcTime } from '../../lib/maritime/time.js';

export type ImportFormat = 'marinecadastre' | 'dma' | 'user';

export interface TableRows {
  header: string[];
  rows: { line: number; values: unknown[] }[];
}

export interface ImportResult {
  format: ImportFormat;
  positions: AisPosition[];
  rejects: Reject[];
  nulled: Record<NulledField, number>;
}

const MARINECADASTRE_HEADER = ['MMSI', 'BaseDateTime', 'LAT', 'LON', 'SOG', 'COG', 'Heading', 'VesselName', 'IMO', 'CallSign', 'VesselType', 'Status', 'Length', 'Width', 'Draft', 'Cargo', 'TransceiverClass'];

/** Which importer reads a header: MarineCadastre by BaseDateTime, DMA by '# Timestamp', else the user format. */
export function detectFormat(header: readonly string[]): ImportFormat {
  const names = header.map((h) => h.trim().toLowerCase());
  if (names.includes('basedatetime') && names.includes('mmsi')) return 'marinecadastre';
  if (names.includes('# timestamp') && names.includes('type of mobile')) return 'dma';
  return 'user';
}

/** DMA navigational status text → ITU code. */
const DMA_NAV_STATUS: Record<string, number> = {
  'under way using engine': 0,
  'at anchor': 1,
  'not under command': 2,
  'restricted maneuverability': 3,
  'restricted manoeuverability': 3,
  'constrained by her draught': 4,
  moored: 5,
  aground: 6,
  'engaged in fishing': 7,
  'under way sailing': 8,
  'reserved for future amendment [hsc]': 9,
  'reserved for future amendment [wig]': 10,
  'power-driven vessel towing astern': 11,
  'power-driven vessel pushing ahead or towing alongside': 12,
  'reserved for future use': 13,
  'ais-sart': 14,
  'unknown value': 15,
};

/** DMA ship type text → a representative ITU type code (the category's first code). */
const DMA_SHIP_TYPE: Record<string, number> = {
  wig: 20, fishing: 30, towing: 31, 'towing long/wide': 32, dredging: 33, diving: 34, military: 35, sailing: 36,
  pleasure: 37, hsc: 40, pilot: 50, sar: 51, tug: 52, 'port tender': 53, 'anti-pollution': 54, 'law enforcement': 55,
  medical: 58, 'not party to conflict': 59, passenger: 60, cargo: 70, tanker: 80, other: 90,
};

/** DMA 'Type of mobile' values that are not ships (their rows are rejected as not_a_vessel). */
const DMA_NOT_VESSELS = new Set(['base station', 'aton', 'search and rescue transponder', 'man overboard device']);

/** User-format columns: normalised name → accepted header names (lower case), in preference order. */
const USER_ALIASES: Record<string, string[]> = {
  mmsi: ['mmsi', 'ssvid', 'userid'],
  lat: ['lat', 'latitude', 'latitude_degrees'],
  lon: ['lon', 'lng', 'long', 'longitude', 'longitude_degrees'],
  ts_utc: ['ts_utc', 'captured_time', 'overpass_time', 'timestamp_utc', 'timestamp', 'basedatetime', 'time', 'datetime'],
  sog: ['sog', 'sog_knots', 'speed_knots', 'speed'],
  cog: ['cog', 'cog_degrees', 'course'],
  heading: ['heading', 'true_heading', 'trueheading'],
  nav_status: ['nav_status', 'status', 'navigational_status'],
  imo: ['imo'],
  call_sign: ['call_sign', 'callsign'],
  name: ['name', 'vessel_name', 'vesselname', 'shipname', 'ship_name'],
  vessel_type: ['vessel_type', 'vesseltype', 'ship_type', 'shiptype'],
};

export function importRows(table: TableRows, file: string, format: ImportFormat | 'auto' = 'auto'): ImportResult {
  const chosen = format === 'auto' ? detectFormat(table.header) : format;
  const header = table.header.map((h) => h.trim());
  const lower = header.map((h) => h.toLowerCase());
  const column = (...names: string[]): number => {
    for (const n of names) {
      const i = lower.indexOf(n.toLowerCase());
      if (i >= 0) return i;
    }
    return -1;
  };
  const need = (label: string, ...names: string[]): number => {
    const i = column(...names);
    if (i < 0) throw new StepError(`the ${chosen} format needs a column ${label} (header: ${header.join(', ')})`, `${file}:1`);
    return i;
  };

  let read: (values: unknown[]) => RawFix | { notVessel: string };
  let source: string;
  if (chosen === 'marinecadastre') {
    source = 'marinecadastre';
    const idx = Object.fromEntries(MARINECADASTRE_HEADER.map((h) => [h, need(h, h)]));
    read = (v) => ({
      mmsi: v[idx.MMSI], ts_utc: time(v[idx.BaseDateTime]), ts_text: str(v[idx.BaseDateTime]),
      lat: v[idx.LAT], lon: v[idx.LON], sog: v[idx.SOG], cog: v[idx.COG], heading: v[idx.Heading],
      nav_status: v[idx.Status], imo: v[idx.IMO], call_sign: v[idx.CallSign], name: v[idx.VesselName], vessel_type: v[idx.VesselType],
    });
  } else if (chosen === 'dma') {
    source = 'dma';
    const i = {
      ts: need('# Timestamp', '# Timestamp'), mobile: need('Type of mobile', 'Type of mobile'), mmsi: need('MMSI', 'MMSI'),
      lat: need('Latitude', 'Latitude'), lon: need('Longitude', 'Longitude'), nav: need('Navigational status', 'Navigational status'),
      sog: need('SOG', 'SOG'), cog: need('COG', 'COG'), heading: need('Heading', 'Heading'), imo: need('IMO', 'IMO'),
      call: need('Callsign', 'Callsign'), name: need('Name', 'Name'), type: need('Ship type', 'Ship type'),
    };
    read = (v) => {
      const mobile = str(v[i.mobile]).trim().toLowerCase();
      if (DMA_NOT_VESSELS.has(mobile)) return { notVessel: str(v[i.mobile]) };
      const nav = str(v[i.nav]).trim().toLowerCase();
      const type = str(v[i.type]).trim().toLowerCase();
      return {
        mmsi: v[i.mmsi], ts_utc: time(v[i.ts]), ts_text: str(v[i.ts]), lat: v[i.lat], lon: v[i.lon],
        sog: v[i.sog], cog: v[i.cog], heading: v[i.heading],
        nav_status: nav === '' ? null : (DMA_NAV_STATUS[nav] ?? 15),
        imo: v[i.imo], call_sign: v[i.call], name: v[i.name],
        vessel_type: type === '' || type === 'undefined' || type.startsWith('reserved') ? null : (DMA_SHIP_TYPE[type] ?? 90),
      };
    };
  } else {
    source = 'user';
    const idx: Record<string, number> = {};
    for (const [key, names] of Object.entries(USER_ALIASES)) idx[key] = column(...names);
    for (const key of ['mmsi', 'lat', 'lon']) {
      if (idx[key] < 0) throw new StepError(`a user AIS table needs a column ${key} (or ${USER_ALIASES[key].join(' / ')}); header: ${header.join(', ')}`, `${file}:1`);
    }
    const at = (v: unknown[], key: string): unknown => (idx[key] >= 0 ? v[idx[key]] : null);
    read = (v) => {
      const rawTime = at(v, 'ts_utc');
      const missing = rawTime === null || rawTime === undefined || str(rawTime).trim() === '';
      return {
        mmsi: at(v, 'mmsi'), ts_utc: missing ? null : time(rawTime), ts_text: str(rawTime), lat: at(v, 'lat'), lon: at(v, 'lon'),
        sog: at(v, 'sog'), cog: at(v, 'cog'), heading: at(v, 'heading'), nav_status: at(v, 'nav_status'),
        imo: at(v, 'imo'), call_sign: at(v, 'call_sign'), name: at(v, 'name'), vessel_type: at(v, 'vessel_type'),
      };
    };
  }

  const candidates: { line: number; position: AisPosition; raw: unknown[] }[] = [];
  const rejects: Reject[] = [];
  const nulled: Record<NulledField, number> = { sog: 0, cog: 0, heading: 0, nav_status: 0, vessel_type: 0 };
  for (const { line, values } of table.rows) {
    if (values.length !== header.length) {
      rejects.push({ source, location: `${file}:${line}`, line, reason: 'malformed_row', field: 'row', value: `${values.length} fields, header has ${header.length}`, raw: values.map((x) => str(x)).join(',') });
      continue;
    }
    const raw = read(values);
    const rawText = values.map((x) => str(x)).join(',');
    if ('notVessel' in raw) {
      rejects.push({ source, location: `${file}:${line}`, line, reason: 'not_a_vessel', field: 'type', value: raw.notVessel, raw: rawText });
      continue;
    }
    if (raw.ts_utc === null && chosen !== 'user') {
      // Only a user table may leave the time out (seed 001 §7: overpass_time is optional).
      rejects.push({ source, location: `${file}:${line}`, line, reason: 'missing_time', field: 'ts_utc', value: null, raw: rawText });
      continue;
    }
    const result = validateFix(raw, source);
    if (!result.ok) {
      rejects.push({ source, location: `${file}:${line}`, line, reason: result.reason, field: result.field, value: result.value, raw: rawText });
      continue;
    }
    for (const f of result.nulled) nulled[f]++;
    candidates.push({ line, position: result.position, raw: values });
  }
  const { unique, duplicates } = splitExactDuplicates(candidates, (c) => c.position);
  for (const d of duplicates) {
    rejects.push({ source, location: `${file}:${d.line}`, line: d.line, reason: 'duplicate', field: null, value: null, raw: d.raw.map((x) => str(x)).join(',') });
  }
  return { format: chosen, positions: unique.map((c) => c.position), rejects, nulled };
}

function str(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

function time(value: unknown): string | null | undefined {
  const text = toText(value);
  if (text === null) return str(value).trim() === '' ? null : undefined;
  // Numbers are epoch seconds (e.g. a unix_ts column).
  if (/^\d{9,10}(\.\d+)?$/.test(text)) return parseUtcTime(new Date(Number(text) * 1000).toISOString());
  return parseUtcTime(text);
}
