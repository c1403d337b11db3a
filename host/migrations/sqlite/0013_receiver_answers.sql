-- Why a webhook is paused when ScaiHub paused it itself (a receiver that
-- answered 410 Gone); NULL when an admin paused it or it runs.
ALTER TABLE webhooks ADD COLUMN paused_reason TEXT;
-- Until when a receiver asked (`Retry-After` on a 429 or 503) that its
-- webhook's deliveries wait, in milliseconds since 1970.
ALTER TABLE webhooks ADD COLUMN held_until BIGINT;
