-- What a contact person's time is spent on (R-TC-1). Whether a kind counts toward the granted
-- weekly hours (and so toward overrun, R-TC-2) is data a municipality may change.
CREATE TABLE activity_kinds (
    code                        text PRIMARY KEY CHECK (code ~ '^[a-z0-9-]{1,63}$'),
    display_name                text NOT NULL,
    description                 text NOT NULL DEFAULT '',
    counts_toward_granted_hours boolean NOT NULL
);

INSERT INTO activity_kinds (code, display_name, description, counts_toward_granted_hours) VALUES
('face-to-face', 'Samvær', 'Time with the child, young person or family.', true),
('phone-online', 'Telefon/online', 'Contact by phone, video or messages.', true),
('transport', 'Transport', 'Travel to and from the child or an activity.', false),
('coordination', 'Koordinering', 'Meetings with the counsellor, school or network.', false),
('documentation', 'Dokumentation', 'Notes and reports.', false);
