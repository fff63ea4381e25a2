-- 0001: the transit store of seed 004 — chokepoints, vessel_transits, dark_events, sar_detections,
-- ingestion_logs; the lifecycle rules as constraints; RLS (read-all, writes for service_role);
-- get_chokepoint_transits and the weekly matview. Applied once, recorded in dagrun_schema_migrations.
CREATE EXTENSION IF NOT EXISTS postgis;

-- PostgREST-style roles, created when absent (NOLOGIN: logins are granted membership).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN CREATE ROLE service_role NOLOGIN; END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
-- The migration table (created by the runner just before) is readable by the publishing role.
GRANT SELECT ON public.dagrun_schema_migrations TO service_role;

CREATE TABLE public.chokepoints (
  id            text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]+$'),
  name          text NOT NULL,
  bidirectional boolean NOT NULL,
  corridor      geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(corridor)),
  entry_zone    geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(entry_zone)),
  exit_zone     geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(exit_zone))
);
CREATE INDEX chokepoints_corridor_gix ON public.chokepoints USING gist (corridor);

CREATE TABLE public.vessel_transits (
  id                    uuid PRIMARY KEY,
  predicted_imo         text,
  vessel_mmsi           bigint,
  chokepoint_id         text NOT NULL REFERENCES public.chokepoints (id),
  direction             text CHECK (direction IN ('entry_to_exit', 'exit_to_entry')),
  predicted_eta         timestamptz,
  eta_uncertainty_hours double precision CONSTRAINT vessel_transits_eta_uncertainty_floor CHECK (eta_uncertainty_hours >= 1),
  predicted_at          timestamptz,
  last_known_at         timestamptz,
  last_known_lat        double precision CHECK (last_known_lat BETWEEN -90 AND 90),
  last_known_lon        double precision CHECK (last_known_lon BETWEEN -180 AND 180),
  last_known_speed      double precision CHECK (last_known_speed >= 0),
  last_known_course     double precision CHECK (last_known_course >= 0 AND last_known_course < 360),
  sar_scene_id          text,
  sar_scene_acquired_at timestamptz,
  pixel_match_lat       double precision CHECK (pixel_match_lat BETWEEN -90 AND 90),
  pixel_match_lon       double precision CHECK (pixel_match_lon BETWEEN -180 AND 180),
  pixel_detection_count integer CHECK (pixel_detection_count >= 1),
  match_confidence      double precision CONSTRAINT vessel_transits_match_confidence_range CHECK (match_confidence >= 0 AND match_confidence <= 1),
  status                text NOT NULL CONSTRAINT vessel_transits_status_check CHECK (status IN ('predicted', 'confirmed', 'dark_transit', 'missed', 'cancelled')),
  confirmed_at          timestamptz,
  confirmed_via         text CHECK (confirmed_via IN ('ais_reappear', 'sar_pixel', 'combined')),
  resolved_at           timestamptz,
  -- dark_transit: seen by SAR only — a scene and a pixel, no AIS prediction.
  CONSTRAINT vessel_transits_dark_shape CHECK (status <> 'dark_transit' OR (sar_scene_id IS NOT NULL AND pixel_match_lat IS NOT NULL AND pixel_match_lon IS NOT NULL AND predicted_imo IS NULL)),
  -- every other status comes from a prediction.
  CONSTRAINT vessel_transits_predicted_shape CHECK (status = 'dark_transit' OR (predicted_imo IS NOT NULL AND predicted_eta IS NOT NULL AND eta_uncertainty_hours IS NOT NULL)),
  CONSTRAINT vessel_transits_confirmed_via_shape CHECK ((status = 'confirmed') = (confirmed_via IS NOT NULL)),
  CONSTRAINT vessel_transits_sar_evidence CHECK (confirmed_via IS NULL OR confirmed_via = 'ais_reappear' OR sar_scene_id IS NOT NULL),
  CONSTRAINT vessel_transits_confirmed_at_shape CHECK (status = 'dark_transit' OR ((status = 'predicted') = (confirmed_at IS NULL)))
);
CREATE UNIQUE INDEX vessel_transits_predicted_uniq ON public.vessel_transits (predicted_imo, chokepoint_id, predicted_eta) WHERE status <> 'dark_transit';
CREATE UNIQUE INDEX vessel_transits_dark_uniq ON public.vessel_transits (sar_scene_id, pixel_match_lat, pixel_match_lon) WHERE status = 'dark_transit';
CREATE INDEX vessel_transits_chokepoint_time ON public.vessel_transits (chokepoint_id, (coalesce(predicted_eta, sar_scene_acquired_at)));

-- AIS dark events scored by the dark-fleet risk model; the SAR sweep verifies high/critical ones.
CREATE TABLE public.dark_events (
  id                uuid PRIMARY KEY,
  vessel_imo        text,
  vessel_mmsi       bigint,
  chokepoint_id     text REFERENCES public.chokepoints (id),
  dark_since        timestamptz NOT NULL,
  last_known_lat    double precision NOT NULL CHECK (last_known_lat BETWEEN -90 AND 90),
  last_known_lon    double precision NOT NULL CHECK (last_known_lon BETWEEN -180 AND 180),
  last_known_speed  double precision CHECK (last_known_speed >= 0),
  last_known_course double precision CHECK (last_known_course >= 0 AND last_known_course < 360),
  risk_tier         text NOT NULL CHECK (risk_tier IN ('low', 'medium', 'high', 'critical')),
  risk_score        double precision NOT NULL CHECK (risk_score >= 0 AND risk_score <= 1),
  CONSTRAINT dark_events_vessel CHECK (vessel_imo IS NOT NULL OR vessel_mmsi IS NOT NULL)
);

CREATE TABLE public.sar_detections (
  id                      uuid PRIMARY KEY,
  dark_event_id           uuid NOT NULL REFERENCES public.dark_events (id) ON DELETE CASCADE,
  vessel_imo              text,
  scene_id                text NOT NULL,
  scene_acquired_at       timestamptz NOT NULL,
  detection_lat           double precision NOT NULL CHECK (detection_lat BETWEEN -90 AND 90),
  detection_lon           double precision NOT NULL CHECK (detection_lon BETWEEN -180 AND 180),
  distance_to_expected_nm double precision NOT NULL CHECK (distance_to_expected_nm >= 0),
  cfar_score              double precision NOT NULL CHECK (cfar_score >= 0),
  mean_confidence         double precision NOT NULL CHECK (mean_confidence >= 0 AND mean_confidence <= 1),
  max_confidence          double precision NOT NULL CHECK (max_confidence >= 0 AND max_confidence <= 1),
  ship_size_estimate      double precision CHECK (ship_size_estimate > 0),
  pixel_detection_count   integer NOT NULL CHECK (pixel_detection_count >= 1),
  detection_method        text NOT NULL CHECK (detection_method ~ '^[a-z0-9-]+-v[0-9]+$'),
  CONSTRAINT sar_detections_confidence_order CHECK (mean_confidence <= max_confidence),
  CONSTRAINT sar_detections_once UNIQUE (dark_event_id, scene_id, detection_lat, detection_lon)
);

-- One row per run of each scheduled job (seed 004, "Operational notes").
CREATE TABLE public.ingestion_logs (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source        text NOT NULL CHECK (source IN ('populate_predicted_transits', 'monitor_corridor_sar', 'reconcile_vessel_transits', 'verify_dark_fleet_sar', 'refresh_mv_chokepoint_transits_weekly')),
  started_at    timestamptz NOT NULL,
  finished_at   timestamptz NOT NULL,
  status        text NOT NULL CHECK (status IN ('ok', 'unchanged', 'error')),
  partition     text,
  rows_in       integer NOT NULL DEFAULT 0 CHECK (rows_in >= 0),
  rows_inserted integer NOT NULL DEFAULT 0 CHECK (rows_inserted >= 0),
  rows_updated  integer NOT NULL DEFAULT 0 CHECK (rows_updated >= 0),
  rows_deleted  integer NOT NULL DEFAULT 0 CHECK (rows_deleted >= 0),
  detail        jsonb NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT ingestion_logs_time_order CHECK (finished_at >= started_at)
);
CREATE INDEX ingestion_logs_source_time ON public.ingestion_logs (source, started_at DESC);

-- Which lifecycle snapshot vessel_transits holds: publishing an older partition after a newer one
-- must not roll rows back.
CREATE TABLE public.transit_publication (
  singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  partition     text NOT NULL,
  snapshot      text NOT NULL,
  published_at  timestamptz NOT NULL
);

-- Row-level security: everyone reads transits and corridors; dark-fleet tables and logs are for
-- signed-in users; only service_role writes.
ALTER TABLE public.chokepoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.vessel_transits ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.dark_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.sar_detections ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.ingestion_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.transit_publication ENABLE ROW LEVEL SECURITY;

CREATE POLICY chokepoints_read_all ON public.chokepoints FOR SELECT USING (true);
CREATE POLICY vessel_transits_read_all ON public.vessel_transits FOR SELECT USING (true);
CREATE POLICY dark_events_read ON public.dark_events FOR SELECT TO authenticated, service_role USING (true);
CREATE POLICY sar_detections_read ON public.sar_detections FOR SELECT TO authenticated, service_role USING (true);
CREATE POLICY ingestion_logs_read ON public.ingestion_logs FOR SELECT TO authenticated, service_role USING (true);
CREATE POLICY transit_publication_read ON public.transit_publication FOR SELECT USING (true);

CREATE POLICY chokepoints_service_write ON public.chokepoints FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY vessel_transits_service_write ON public.vessel_transits FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY dark_events_service_write ON public.dark_events FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY sar_detections_service_write ON public.sar_detections FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY ingestion_logs_service_write ON public.ingestion_logs FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY transit_publication_service_write ON public.transit_publication FOR ALL TO service_role USING (true) WITH CHECK (true);

GRANT SELECT ON public.chokepoints, public.vessel_transits, public.transit_publication TO anon, authenticated;
GRANT SELECT ON public.dark_events, public.sar_detections, public.ingestion_logs TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.chokepoints, public.vessel_transits, public.dark_events, public.sar_detections, public.ingestion_logs, public.transit_publication TO service_role;

-- get_chokepoint_transits: one chokepoint (NULL = all) over [p_from, p_to), newest first; the transit
-- time is predicted_eta, or the SAR acquisition of a dark transit. Defaults to the last 14 days.
CREATE FUNCTION public.get_chokepoint_transits(
  p_chokepoint_id text DEFAULT NULL,
  p_from timestamptz DEFAULT now() - interval '14 days',
  p_to timestamptz DEFAULT now()
) RETURNS SETOF public.vessel_transits
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
  SELECT t.* FROM public.vessel_transits t
  WHERE (p_chokepoint_id IS NULL OR t.chokepoint_id = p_chokepoint_id)
    AND coalesce(t.predicted_eta, t.sar_scene_acquired_at) >= p_from
    AND coalesce(t.predicted_eta, t.sar_scene_acquired_at) < p_to
  ORDER BY coalesce(t.predicted_eta, t.sar_scene_acquired_at) DESC, t.id
$$;
REVOKE ALL ON FUNCTION public.get_chokepoint_transits(text, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.get_chokepoint_transits(text, timestamptz, timestamptz) TO anon, authenticated, service_role;

-- Weekly aggregates (Monday weeks, UTC), the median (confirmed_at − predicted_eta) of confirmed rows,
-- and the 5 most recent ids per bucket — the same definition as transit-reconcile's weekly output.
CREATE MATERIALIZED VIEW public.mv_chokepoint_transits_weekly AS
SELECT chokepoint_id,
       (date_trunc('week', coalesce(predicted_eta, sar_scene_acquired_at) AT TIME ZONE 'UTC'))::date AS week_start,
       status,
       count(*)::bigint AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM confirmed_at - predicted_eta) / 3600.0)
         FILTER (WHERE status = 'confirmed') AS median_eta_delta_hours,
       (array_agg(id::text ORDER BY coalesce(predicted_eta, sar_scene_acquired_at) DESC, id))[1:5] AS sample_ids
FROM public.vessel_transits
GROUP BY 1, 2, 3;
CREATE UNIQUE INDEX mv_chokepoint_transits_weekly_key ON public.mv_chokepoint_transits_weekly (chokepoint_id, week_start, status);
GRANT SELECT ON public.mv_chokepoint_transits_weekly TO anon, authenticated, service_role;

-- The nightly refresh job, callable by service_role (a matview refresh needs its owner's rights).
CREATE FUNCTION public.refresh_mv_chokepoint_transits_weekly() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
  REFRESH MATERIALIZED VIEW CONCURRENTLY public.mv_chokepoint_transits_weekly;
END
$$;
REVOKE ALL ON FUNCTION public.refresh_mv_chokepoint_transits_weekly() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.refresh_mv_chokepoint_transits_weekly() TO service_role;
