-- A reject keeps its event, so that it can be applied again once its cause is mended
-- (kontakt.events.v1.ConsumerRejectService, `kontakt ctl rejects`), and says how often that was
-- tried and when it succeeded. Events carry no CPR number (R-DP-1); the envelope is the
-- producer's, byte for byte.
ALTER TABLE consumer_rejects
    ADD COLUMN envelope     bytea,
    ADD COLUMN municipality text,
    ADD COLUMN attempts     integer NOT NULL DEFAULT 0,
    ADD COLUMN reapplied_at timestamptz;

CREATE INDEX consumer_rejects_open ON consumer_rejects (rejected_at, consumer, sequence)
    WHERE reapplied_at IS NULL;
