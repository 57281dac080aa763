-- Events posted as history (POST /v1/events?backfill=true, or "backfill": true on the event):
-- a replay from the warehouse judges them as the worker did.
ALTER TABLE raw_events ADD COLUMN IF NOT EXISTS backfill Bool DEFAULT false AFTER actor_id;
