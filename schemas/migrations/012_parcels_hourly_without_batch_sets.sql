-- The batch panels count the batch ledger (011), so parcels_hourly no longer needs its exact sets
-- of batch ids, the costliest part of the rollup to fill at every insert. The view is dropped,
-- the column with it, and the view made again without it. Nothing may write meanwhile (as for
-- every migration); each step may run again after a run cut short.
DROP TABLE IF EXISTS parcels_hourly_mv;

ALTER TABLE parcels_hourly DROP COLUMN IF EXISTS batches;

CREATE MATERIALIZED VIEW IF NOT EXISTS parcels_hourly_mv TO parcels_hourly AS
SELECT division_code, brand, site_id, event_type, origin, from_outside_city,
       toStartOfHour(toDateTime(occurred_at)) AS hour, toUInt64(count()) AS events,
       toUInt64(sum(item_count)) AS items
FROM parcel_events
GROUP BY division_code, brand, site_id, event_type, origin, from_outside_city, hour;
