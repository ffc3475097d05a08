-- Children and young people (R-DP-1). The id is pseudonymous; the CPR number is stored only
-- sealed (AES-256-GCM, key id beside it) and as a keyed blind index for exact lookup, which is
-- also what makes a CPR number unique within a municipality.
CREATE TABLE persons (
    id             text PRIMARY KEY CHECK (id ~ '^[a-z0-9-]{1,63}$'),
    municipality   text NOT NULL CHECK (municipality ~ '^[0-9]{3}$'),
    display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    birth_date     date NOT NULL,
    cpr_key_id     text NOT NULL,
    cpr_ciphertext bytea NOT NULL,
    cpr_index      bytea NOT NULL,
    create_time    timestamptz NOT NULL DEFAULT now(),
    update_time    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (municipality, cpr_index)
);
