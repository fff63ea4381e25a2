// UTC timestamps as AIS sources write them, turned into one canonical text form
// 'YYYY-MM-DD HH:MM:SS.ffffff' (microseconds: DuckDB TIMESTAMP precision) that sorts as it reads.

const ISO_LIKE =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*(Z|[+-]\d{2}:?\d{2}(?:\s*UTC)?|UTC)?$/i;
const DAY_FIRST = /^(\d{2})\/(\d{2})\/(\d{4})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?$/;

/**
 * Parse a UTC time: ISO 8601 (with Z or an offset, or none = UTC), aisstream's
 * '2026-04-24 12:29:45.191749062 +0000 UTC', or day-first 'DD/MM/YYYY HH:MM[:SS]' (DMA, VesselsValue).
 * Returns the canonical text, or undefined when the text is not a valid time.
 */
export function parseUtcTime(text: string): string | undefined {
  const trimmed = text.trim();
  let parts: { y: number; mo: number; d: number; h: number; mi: number; s: number; frac: string; offsetMin: number } | undefined;
  const iso = ISO_LIKE.exec(trimmed);
  if (iso) {
    const offsetMin = parseOffset(iso[8]);
    if (offsetMin === undefined) return undefined;
    parts = {
      y: Number(iso[1]), mo: Number(iso[2]), d: Number(iso[3]), h: Number(iso[4]), mi: Number(iso[5]),
      s: Number(iso[6] ?? 0), frac: iso[7] ?? '', offsetMin,
    };
  } else {
    const dayFirst = DAY_FIRST.exec(trimmed);
    if (!dayFirst) return undefined;
    parts = {
      y: Number(dayFirst[3]), mo: Number(dayFirst[2]), d: Number(dayFirst[1]), h: Number(dayFirst[4]), mi: Number(dayFirst[5]),
      s: Number(dayFirst[6] ?? 0), frac: dayFirst[7] ?? '', offsetMin: 0,
    };
  }
  const { y, mo, d, h, mi, s, frac, offsetMin } = parts;
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  const wholeMs = Date.UTC(y, mo - 1, d, h, mi, s);
  // Date.UTC rolls 31 April over to 1 May: reject days the month does not have.
  if (new Date(Date.UTC(y, mo - 1, d)).getUTCDate() !== d) return undefined;
  const utcMs = wholeMs - offsetMin * 60_000;
  return `${new Date(utcMs).toISOString().slice(0, 19).replace('T', ' ')}.${frac.slice(0, 6).padEnd(6, '0')}`;
}

/** Widest UTC offset in use (Kiribati, +14:00); anything beyond is a corrupt value, not a zone. */
const MAX_OFFSET_MIN = 14 * 60;

/** Minutes east of UTC, or undefined for an impossible offset (+25:00, +01:75, -14:30). */
function parseOffset(zone: string | undefined): number | undefined {
  if (!zone) return 0;
  const m = /^([+-])(\d{2}):?(\d{2})/.exec(zone);
  if (!m) return 0; // Z or UTC
  const minutes = Number(m[3]);
  const total = Number(m[2]) * 60 + minutes;
  if (minutes > 59 || total > MAX_OFFSET_MIN) return undefined;
  return (m[1] === '-' ? -1 : 1) * total;
}

/** Milliseconds since the epoch of a canonical time (sub-millisecond digits kept as a fraction). */
export function epochMs(canonical: string): number {
  const whole = Date.parse(`${canonical.slice(0, 19).replace(' ', 'T')}Z`);
  return whole + Number(`0.${canonical.slice(20) || '0'}`) * 1000;
}

/** Canonical text of an epoch time in milliseconds. */
export function canonicalFromMs(ms: number): string {
  const whole = Math.floor(ms / 1000) * 1000;
  const micros = Math.min(999_999, Math.round((ms - whole) * 1000));
  return `${new Date(whole).toISOString().slice(0, 19).replace('T', ' ')}.${String(micros).padStart(6, '0')}`;
}

/** The UTC date 'YYYY-MM-DD' of a canonical time. */
export function utcDate(canonical: string): string {
  return canonical.slice(0, 10);
}
