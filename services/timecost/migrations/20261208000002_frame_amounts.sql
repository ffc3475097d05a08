-- A frame's amount from a coming year on (R-BF-1), e.g. the committee's adjusted frame after
-- the yearly evaluation (R-FU-5). A year's amount is the row with the latest from_year not after
-- it; before the first row, the frame's own base_ore and base_year.
CREATE TABLE frame_amounts (
    frame_id    text NOT NULL REFERENCES frames (id),
    from_year   int NOT NULL,
    base_ore    bigint NOT NULL CHECK (base_ore > 0),
    base_year   int NOT NULL CHECK (base_year <= from_year),
    decision    text NOT NULL,
    set_by      text NOT NULL,
    revision    bigint NOT NULL DEFAULT 1,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (frame_id, from_year)
);
