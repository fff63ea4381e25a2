// aisstream.io message envelopes → normalised positions, static vessel data, or rejects.
// Envelope: { MessageType, MetaData: { MMSI, MMSI_String, ShipName, latitude, longitude, time_utc },
//             Message: { <MessageType>: { ...decoded AIS fields } } }
import { validateFix, toNumber, toText, normaliseImo, type AisPosition, type NulledField, type RejectReason } from '../../lib/maritime/ais.js';
import { parseUtcTime } from '../../lib/maritime/time.js';

/** Message types that carry a position. */
export const POSITION_TYPES = ['PositionReport', 'StandardClassBPositionReport', 'ExtendedClassBPositionReport'] as const;
/** Message types the capture subscribes to. */
export const CAPTURE_MESSAGE_TYPES = [...POSITION_TYPES, 'ShipStaticData'] as const;

export interface StaticData {
  mmsi: number;
  ts_utc: string;
  name: string | null;
  imo: string | null;
  call_sign: string | null;
  vessel_type: number | null;
  length_m: number | null;
  width_m: number | null;
}

export type ParsedMessage =
  | { kind: 'position'; messageType: string; position: AisPosition; nulled: NulledField[] }
  | { kind: 'static'; messageType: string; data: StaticData }
  | { kind: 'other'; messageType: string }
  | { kind: 'reject'; reason: RejectReason; field: string; value: string | null };

export interface Envelope {
  MessageType?: unknown;
  MetaData?: Record<string, unknown>;
  Message?: Record<string, Record<string, unknown> | undefined>;
  error?: unknown;
}

/** The envelope's position time (MetaData.time_utc) in canonical form, or undefined. */
export function envelopeTime(envelope: Envelope): string | undefined {
  const text = envelope.MetaData?.time_utc;
  return typeof text === 'string' ? parseUtcTime(text) : undefined;
}

/** The envelope's MMSI: MetaData.MMSI, else MMSI_String (a number or a string), else the body's UserID. */
export function envelopeMmsi(envelope: Envelope, body?: Record<string, unknown>): unknown {
  const meta = envelope.MetaData ?? {};
  return meta.MMSI ?? meta.MMSI_String ?? body?.UserID;
}

/** Parse one raw stream line (a JSON envelope). */
export function parseMessage(line: string, source = 'aisstream'): ParsedMessage {
  let envelope: Envelope;
  try {
    envelope = JSON.parse(line) as Envelope;
  } catch {
    return { kind: 'reject', reason: 'malformed_message', field: 'json', value: null };
  }
  if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) {
    return { kind: 'reject', reason: 'malformed_message', field: 'json', value: null };
  }
  const messageType = typeof envelope.MessageType === 'string' ? envelope.MessageType : '';
  if (!messageType) return { kind: 'reject', reason: 'malformed_message', field: 'MessageType', value: null };
  const body = envelope.Message?.[messageType];
  const meta = envelope.MetaData;
  if (!body || typeof body !== 'object' || !meta || typeof meta !== 'object') {
    if ((POSITION_TYPES as readonly string[]).includes(messageType) || messageType === 'ShipStaticData') {
      return { kind: 'reject', reason: 'malformed_message', field: !meta ? 'MetaData' : `Message.${messageType}`, value: null };
    }
    return { kind: 'other', messageType };
  }
  const timeText = typeof meta.time_utc === 'string' ? meta.time_utc : null;
  const ts = timeText === null ? undefined : parseUtcTime(timeText);

  if ((POSITION_TYPES as readonly string[]).includes(messageType)) {
    const result = validateFix(
      {
        mmsi: envelopeMmsi(envelope, body),
        ts_utc: ts,
        ts_text: timeText,
        lat: body.Latitude,
        lon: body.Longitude,
        sog: body.Sog,
        cog: body.Cog,
        heading: body.TrueHeading,
        nav_status: body.NavigationalStatus,
        name: body.Name ?? meta.ShipName,
        vessel_type: body.Type,
      },
      source,
    );
    if (!result.ok) return { kind: 'reject', reason: result.reason, field: result.field, value: result.value };
    return { kind: 'position', messageType, position: result.position, nulled: result.nulled };
  }

  if (messageType === 'ShipStaticData') {
    const mmsi = toNumber(envelopeMmsi(envelope, body));
    if (mmsi === null || !Number.isInteger(mmsi) || mmsi <= 0 || mmsi > 999_999_999) {
      return { kind: 'reject', reason: 'invalid_mmsi', field: 'mmsi', value: String(envelopeMmsi(envelope, body)) };
    }
    if (ts === undefined) return { kind: 'reject', reason: 'unparseable_time', field: 'time_utc', value: timeText };
    const dimension = (body.Dimension ?? {}) as Record<string, unknown>;
    const sum = (a: unknown, b: unknown): number | null => {
      const x = toNumber(a);
      const y = toNumber(b);
      return x === null || y === null || !Number.isFinite(x + y) || x + y <= 0 ? null : x + y;
    };
    const type = toNumber(body.Type);
    return {
      kind: 'static',
      messageType,
      data: {
        mmsi,
        ts_utc: ts,
        name: toText(body.Name ?? meta.ShipName),
        imo: normaliseImo(body.ImoNumber),
        call_sign: toText(body.CallSign),
        vessel_type: type !== null && Number.isInteger(type) && type > 0 && type <= 99 ? type : null,
        length_m: sum(dimension.A, dimension.B),
        width_m: sum(dimension.C, dimension.D),
      },
    };
  }
  return { kind: 'other', messageType };
}
