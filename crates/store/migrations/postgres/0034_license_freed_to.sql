-- Where a pool's seat goes when someone leaving or moving frees it: `line` (the first in line),
-- `department` or `team` (first the earliest waiting person of the leaver's department or org
-- unit, else the first in line).
ALTER TABLE license_pools ADD COLUMN freed_to TEXT NOT NULL DEFAULT 'line';
