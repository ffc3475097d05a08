-- Events a service publishes (DOMAIN.md §8), written in the same transaction as the change they
-- describe. `sequence` is the feed's order and a consumer's cursor. It is NOT taken when the row
-- is inserted: a number taken then becomes visible only when its transaction commits, and
-- transactions commit out of order, so a consumer tailing by it could pass a number that appears
-- later and miss it forever. Instead the sequencer numbers rows after they have committed, one
-- sequencer at a time: numbers then become visible in increasing order with no gaps, and a row
-- that commits late simply gets a later number.
CREATE TABLE outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sequence     bigint UNIQUE,
    event_id     uuid NOT NULL UNIQUE,
    type         text NOT NULL,
    occurred_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    municipality text,
    subject      text NOT NULL,
    traceparent  text,
    tracestate   text,
    -- The encoded protobuf message named by `type`.
    payload      bytea NOT NULL
);

CREATE INDEX outbox_unsequenced ON outbox (id) WHERE sequence IS NULL;
