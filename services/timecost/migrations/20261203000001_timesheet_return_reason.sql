-- Why the coordinator sent a timesheet back (shown to the contact person until it is
-- submitted again).
ALTER TABLE timesheets ADD COLUMN return_reason text NOT NULL DEFAULT '';
