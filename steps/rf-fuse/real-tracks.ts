// Readers for the real AIS files the simulator is tested on (tests and sweeps; not used by the step).
import { quoteLiteral, withDb } from '../../src/sdk/table-io.js';
import type { TrackFix } from './simulate.js';

async function read(sql: string): Promise<TrackFix[]> {
  return withDb(async (db) => {
    await db.run(`SET TimeZone = 'UTC'`);
    const rows = await db.all(sql);
    return rows.map((r) => ({
      mmsi: Number(r.mmsi),
      ts: Number(r.ts),
      lat: Number(r.lat),
      lon: Number(r.lon),
      sog: r.sog === null ? null : Number(r.sog),
      cog: r.cog === null ? null : Number(r.cog),
      heading: r.heading === null ? null : Number(r.heading),
      nav_status: r.nav_status === null ? null : Number(r.nav_status),
      imo: (r.imo as string | null) ?? null,
      call_sign: (r.call_sign as string | null) ?? null,
      name: (r.name as string | null) ?? null,
      vessel_type: r.vessel_type === null ? null : Number(r.vessel_type),
      source: String(r.source),
    }));
  });
}

/** dstl Stone Soup Solent log: Time, MMSI, Latitude_degrees, Longitude_degrees, COG_degrees, SOG_knots. Duplicates kept. */
export function readSolentTracks(path: string): Promise<TrackFix[]> {
  return read(`
    SELECT MMSI AS mmsi, epoch_ms(CAST("Time" AS TIMESTAMPTZ)) AS ts, Latitude_degrees AS lat, Longitude_degrees AS lon,
      SOG_knots AS sog, COG_degrees AS cog, NULL AS heading, NULL AS nav_status, NULL AS imo, NULL AS call_sign, NULL AS name,
      NULL AS vessel_type, 'solent' AS source
    FROM read_csv(${quoteLiteral(path)}, header = true) ORDER BY mmsi, ts, lat, lon`);
}

/** NOAA MarineCadastre day file (17 columns). */
export function readMarineCadastreTracks(path: string): Promise<TrackFix[]> {
  return read(`
    SELECT MMSI AS mmsi, epoch_ms(CAST(BaseDateTime AS TIMESTAMPTZ)) AS ts, LAT AS lat, LON AS lon, SOG AS sog,
      CASE WHEN COG BETWEEN 0 AND 359.9 THEN COG END AS cog, CASE WHEN Heading < 360 THEN Heading END AS heading,
      Status AS nav_status, nullif(CAST(IMO AS VARCHAR), '') AS imo, nullif(CAST(CallSign AS VARCHAR), '') AS call_sign,
      VesselName AS name, VesselType AS vessel_type, 'marinecadastre' AS source
    FROM read_csv(${quoteLiteral(path)}, header = true) ORDER BY mmsi, ts, lat, lon`);
}
