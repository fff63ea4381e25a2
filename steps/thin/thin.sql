-- thin: AIS trajectory thinning (seed 002), one date partition at a time.
--
-- Movement state per fix: anchored (SOG < $anchor_sog_threshold_knots), slow (below
-- $fast_sog_threshold_knots), fast (at or above it). A fix without SOG takes the speed implied by the
-- distance and time from the vessel's previous fix (0 for a vessel's first fix).
-- Time buckets: floor(epoch / interval) with the state's interval ($fast_interval_min,
-- $slow_interval_min, $anchor_interval_min).
-- Kept: the first and last fix of every (vessel, state, bucket); each vessel's first and last fix of
-- every UTC day; the first and last fix of every voyage.
-- Voyages (the seed expects an upstream VoyageID; we derive one): a vessel starts a new voyage when
-- it has not reported for more than $voyage_gap_hours, or when the implied speed from its previous fix
-- exceeds $max_plausible_kn (a position jump no ship can make: a new track, e.g. a reused MMSI or a
-- GPS fault). voyage_id counts voyages from 1 per vessel within the partition.
-- segment_distance_km: haversine from the previous kept fix of the same vessel (NULL for its first).
--
-- Determinism: fixes are ordered by time and then by every other column, so the result does not
-- depend on input order (MarineCadastre is not time-sorted within a vessel); rows that are equal in
-- every column are interchangeable. Rows without a time are not part of a trajectory and are skipped.
-- Earth radius 6371.0088 km, as in src/geo.ts haversineKm.

-- One sorted pass (the same sort a bare row_number() needs) feeds everything; the movement state is
-- carried as a small code (0 anchored, 1 slow, 2 fast) and spelt out only for the kept rows.
CREATE TEMP TABLE thinned AS
WITH ordered AS (
  SELECT
    mmsi, ts_utc, lat, lon, sog, cog, heading, nav_status, imo, call_sign, name, vessel_type, source,
    row_number() OVER w AS ord,
    -- One lag of a struct is cheaper than three lags.
    lag(struct_pack(ts := ts_utc, lat := lat, lon := lon)) OVER w AS prev
  FROM positions
  WHERE ts_utc IS NOT NULL AND lat IS NOT NULL AND lon IS NOT NULL AND mmsi IS NOT NULL
  WINDOW w AS (
    PARTITION BY mmsi
    ORDER BY ts_utc, lat, lon, sog NULLS FIRST, cog NULLS FIRST, heading NULLS FIRST, nav_status NULLS FIRST,
             imo NULLS FIRST, call_sign NULLS FIRST, name NULLS FIRST, vessel_type NULLS FIRST, source NULLS FIRST
  )
), unpacked AS (
  SELECT * EXCLUDE (prev), prev.ts AS prev_ts, prev.lat AS prev_lat, prev.lon AS prev_lon,
    epoch(ts_utc) AS ep, epoch(ts_utc) - epoch(prev.ts) AS gap_s
  FROM ordered
), speeds AS (
  SELECT *,
    -- Implied speed in knots from the previous fix (haversine); a 1 s floor keeps same-second fixes
    -- finite. Only computed where it can matter (no SOG, or a jump possibly above $max_plausible_kn):
    -- R·(|Δφ| + |Δλ|) bounds the great-circle distance from above (meridian arc + parallel arc), so a
    -- fix whose degree sum stays under the speed limit cannot exceed it. The test is kept loose (a
    -- 0.1 % margin, the raw |Δλ| without the antimeridian wrap, the gap without the 1 s floor): it only
    -- picks the rows that get the exact haversine, so it may let through more, never fewer.
    CASE WHEN prev_ts IS NULL THEN 0.0
      WHEN sog IS NULL OR abs(lat - prev_lat) + abs(lon - prev_lon)
                          > $max_plausible_kn * gap_s * (0.999 * 1.852 / 3600.0 * 180.0 / pi() / 6371.0088) THEN
      2 * 6371.0088 * asin(least(1.0, sqrt(
        pow(sin(radians(lat - prev_lat) / 2), 2) +
        cos(radians(prev_lat)) * cos(radians(lat)) * pow(sin(radians(lon - prev_lon) / 2), 2))))
      / 1.852 / (greatest(gap_s, 1.0) / 3600.0)
    END AS implied_kn
  FROM unpacked
), states AS (
  SELECT *,
    CASE
      WHEN coalesce(sog, implied_kn) < $anchor_sog_threshold_knots THEN 0
      WHEN coalesce(sog, implied_kn) < $fast_sog_threshold_knots THEN 1
      ELSE 2
    END::UTINYINT AS state,
    prev_ts IS NULL OR gap_s > $voyage_gap_hours * 3600.0 OR coalesce(implied_kn > $max_plausible_kn, false) AS voyage_start
  FROM speeds
), classified AS MATERIALIZED (
  SELECT
    mmsi, ts_utc, lat, lon, sog, cog, heading, nav_status, imo, call_sign, name, vessel_type, source,
    ord, state, voyage_start,
    floor(ep / (60.0 * CASE state
        WHEN 2 THEN $fast_interval_min
        WHEN 1 THEN $slow_interval_min
        ELSE $anchor_interval_min END))::BIGINT AS bucket
  FROM states
), kept_ord AS (
  -- The ordinals to keep: first/last per (vessel, state, bucket), per (vessel, day); voyage starts and
  -- the fix before each voyage start (the previous voyage's end), plus each vessel's last fix.
  SELECT mmsi, unnest([first_ord, last_ord]) AS ord
  FROM (
    SELECT mmsi, min(ord) AS first_ord, max(ord) AS last_ord
    FROM classified
    GROUP BY GROUPING SETS ((mmsi, state, bucket), (mmsi, CAST(ts_utc AS DATE)))
  )
  UNION
  SELECT mmsi, ord FROM classified WHERE voyage_start
  UNION
  SELECT mmsi, ord - 1 FROM classified WHERE voyage_start AND ord > 1
  UNION
  SELECT mmsi, max(ord) FROM classified GROUP BY mmsi
), kept AS (
  SELECT c.* FROM classified c SEMI JOIN kept_ord k ON c.mmsi = k.mmsi AND c.ord = k.ord
), linked AS (
  SELECT *,
    -- ord is unique within a vessel, so a ROWS frame is the default RANGE frame, only cheaper.
    sum(CASE WHEN voyage_start THEN 1 ELSE 0 END) OVER (k ROWS UNBOUNDED PRECEDING) AS voyage_no,
    lag(lat) OVER k AS kept_prev_lat,
    lag(lon) OVER k AS kept_prev_lon
  FROM kept
  WINDOW k AS (PARTITION BY mmsi ORDER BY ord)
)
SELECT
  mmsi, ts_utc, lat, lon, sog, cog, heading, nav_status, imo, call_sign, name, vessel_type, source,
  CASE state WHEN 0 THEN 'anchored' WHEN 1 THEN 'slow' ELSE 'fast' END AS movement_state,
  CAST(voyage_no AS INTEGER) AS voyage_id,
  CASE WHEN kept_prev_lat IS NULL THEN NULL ELSE
    2 * 6371.0088 * asin(least(1.0, sqrt(
      pow(sin(radians(lat - kept_prev_lat) / 2), 2) +
      cos(radians(kept_prev_lat)) * cos(radians(lat)) * pow(sin(radians(lon - kept_prev_lon) / 2), 2))))
  END AS segment_distance_km
FROM linked;
