-- Budget frames (R-BF-1..3), the PL indexation rates finance enters (R-BF-1), and the monthly
-- cost aggregates kept in each time entry's transaction, so budget status (R-BF-4) reads a
-- bounded number of rows however many entries there are.

CREATE TABLE frames (
    id                            text PRIMARY KEY,
    display_name                  text NOT NULL,
    base_ore                      bigint NOT NULL CHECK (base_ore > 0),
    base_year                     int NOT NULL CHECK (base_year BETWEEN 1990 AND 2199),
    period_start                  date NOT NULL,
    period_end                    date CHECK (period_end >= period_start),
    -- Empty = every unit's costs in the frame's municipalities.
    service_units                 text[] NOT NULL,
    coordinator_cost_per_year_ore bigint NOT NULL CHECK (coordinator_cost_per_year_ore >= 0),
    threshold_basis_points        int NOT NULL CHECK (threshold_basis_points BETWEEN 1 AND 10000),
    revision                      bigint NOT NULL DEFAULT 1,
    create_time                   timestamptz NOT NULL DEFAULT now(),
    update_time                   timestamptz NOT NULL DEFAULT now()
);

-- Exact shares summing to one (checked by the API, R-BF-2).
CREATE TABLE frame_shares (
    frame_id     text NOT NULL REFERENCES frames (id),
    municipality text NOT NULL,
    numerator    bigint NOT NULL CHECK (numerator > 0),
    denominator  bigint NOT NULL CHECK (denominator >= numerator),
    PRIMARY KEY (frame_id, municipality)
);

CREATE TABLE indexation_rates (
    year              int PRIMARY KEY CHECK (year BETWEEN 1990 AND 2199),
    rate_basis_points int NOT NULL CHECK (rate_basis_points BETWEEN -5000 AND 5000),
    source            text NOT NULL,
    revision          bigint NOT NULL DEFAULT 1,
    create_time       timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now()
);

-- Cost per municipality, unit, month and category, in exact units (1/480 øre).
CREATE TABLE cost_by_month (
    municipality text NOT NULL,
    unit         text NOT NULL,
    month        date NOT NULL,
    category     text NOT NULL CHECK (category IN ('CONTACT_PERSON_PAY', 'EXTERNAL_PURCHASES')),
    cost_units   bigint NOT NULL,
    minutes      bigint NOT NULL,
    PRIMARY KEY (municipality, month, unit, category)
);
INSERT INTO cost_by_month (municipality, unit, month, category, cost_units, minutes)
SELECT e.municipality, e.unit, date_trunc('month', e.work_date)::date,
       CASE WHEN a.employment = 'PROVIDER' THEN 'EXTERNAL_PURCHASES' ELSE 'CONTACT_PERSON_PAY' END,
       sum(e.cost_units), sum(e.minutes)
  FROM time_entries e
  JOIN assignments a ON a.municipality = e.municipality AND a.id = e.assignment_id
 GROUP BY 1, 2, 3, 4;

-- FrameThresholdPassed was published for the frame's year (once, R-BF-4).
CREATE TABLE frame_thresholds (
    frame_id  text NOT NULL REFERENCES frames (id),
    year      int NOT NULL,
    passed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (frame_id, year)
);
