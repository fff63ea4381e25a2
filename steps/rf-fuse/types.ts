// Shared shapes of the rf-fuse step: cleaned AIS fixes, cleaned RF detections, params and N6 rows.

/** One cleaned AIS fix (after standardise/validate/dedup), ordered by mmsi then ts. */
export interface AisFix {
  mmsi: number;
  /** epoch ms, UTC */
  ts: number;
  lat: number;
  lon: number;
  sog: number | null;
  cog: number | null;
  trackId: string;
  /** ms since the previous fix of the same track (null for the first fix) */
  deltaT: number | null;
  deltaDistKm: number | null;
  speedCalcKn: number | null;
}

/** One cleaned RF detection (TDOA/MLAT clusters already reduced to their centroid). */
export interface RfDetection {
  rfId: string;
  ts: number;
  lat: number;
  lon: number;
  /** 95 % radius of the geolocation, metres */
  uncertaintyM: number;
  geolocMethod: string;
  /** the vessel this detection was resolved to (mmsi, imo, call_sign or the mapping table), or null */
  mmsi: number | null;
  /** RF detection ids behind this row (cluster members, or the detection itself) */
  memberIds: string[];
}

export interface FuseParams {
  gap_thr_min: number;
  rf_window_min: number;
  max_res_km: number;
  spoof_thr: number;
  max_geo_uncertainty_m: number;
  bucket_min: number;
  h3_res: number;
  minor_gap_max_min: number;
  rf_match_min: number;
  track_break_min: number;
  max_speed_kn: number;
}

export const DEFAULT_PARAMS: FuseParams = {
  gap_thr_min: 10,
  rf_window_min: 6,
  max_res_km: 20,
  spoof_thr: 0.7,
  max_geo_uncertainty_m: 5000,
  bucket_min: 1,
  h3_res: 8,
  minor_gap_max_min: 5,
  rf_match_min: 2,
  track_break_min: 180,
  max_speed_kn: 60,
};

export type SourceTag = 'AIS' | 'RF_FILL' | 'AIS_CORRECTED';

/** A row of the N6 output (seed 003 §7), before partition and lineage columns are added. */
export interface N6Row {
  mmsi: string;
  ts_utc: number;
  lat: number;
  lon: number;
  source_tag: SourceTag;
  fill_confidence: number | null;
  spoof_score: number | null;
  rf_ids_used: string[];
  geo_uncertainty_m: number | null;
  sog: number | null;
  cog: number | null;
  correction_distance_km: number | null;
  position_label: string;
}

/** Exact DuckDB types of the N6 output, in seed 003 §7 order. */
export const N6_COLUMNS = {
  mmsi: 'VARCHAR',
  ts_utc: 'BIGINT',
  lat: 'DOUBLE',
  lon: 'DOUBLE',
  source_tag: 'VARCHAR',
  fill_confidence: 'FLOAT',
  spoof_score: 'FLOAT',
  rf_ids_used: 'VARCHAR[]',
  geo_uncertainty_m: 'INTEGER',
  sog: 'FLOAT',
  cog: 'FLOAT',
  correction_distance_km: 'FLOAT',
  position_label: 'VARCHAR',
  ingest_partition: 'DATE',
  lineage_run_id: 'VARCHAR',
} as const;

/** The spoof review/audit table: every AIS fix whose residual crossed the gate, corrected or not. */
export const AUDIT_COLUMNS = {
  mmsi: 'VARCHAR',
  ts_utc: 'BIGINT',
  orig_lat: 'DOUBLE',
  orig_lon: 'DOUBLE',
  lat: 'DOUBLE',
  lon: 'DOUBLE',
  residual_km: 'DOUBLE',
  spoof_score: 'FLOAT',
  corrected: 'BOOLEAN',
  correction_distance_km: 'FLOAT',
  rf_ids_used: 'VARCHAR[]',
  ingest_partition: 'DATE',
  lineage_run_id: 'VARCHAR',
} as const;

export const KNOT_KM_PER_H = 1.852;
export const MINUTE_MS = 60_000;
/** geo_uncertainty_m is a 95 % radius; a 2-D Gaussian reaches 95 % at about 2.45 σ. */
export const RADIUS95_PER_SIGMA = 2.45;
