-- Each input is a view named after it; params are bound ($min_value), never interpolated.
-- The script creates a table or view named after each output.
CREATE TEMP TABLE clean AS
SELECT trim(station) AS station, CAST(day AS DATE) AS day, CAST(value AS DOUBLE) AS value
FROM readings
WHERE value IS NOT NULL AND value >= $min_value;
