-- Where each of this service's event consumers has got to in a producer's feed. The row is
-- updated in the same transaction as the effects of the events it covers, so an effect is
-- applied exactly once; replicas take the row FOR UPDATE, so they never apply an event twice.
CREATE TABLE consumer_cursors (
    consumer      text PRIMARY KEY,
    -- The last sequence handled (or passed over by the consumer's filter).
    last_sequence bigint NOT NULL DEFAULT 0,
    -- When the last handled event happened in the producer.
    last_event_at timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Events a handler refused for good (a payload it cannot read, a rule that can never hold).
-- The consumer records them here and moves on instead of stopping the whole feed; operators
-- look here, and at the warning logged with the same event id.
CREATE TABLE consumer_rejects (
    consumer    text NOT NULL,
    sequence    bigint NOT NULL,
    event_id    uuid NOT NULL,
    type        text NOT NULL,
    subject     text NOT NULL,
    reason      text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, sequence)
);
