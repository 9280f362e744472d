-- The position an incremental source resumes from (a delta link, a highest modifyTimestamp...).
ALTER TABLE sources ADD COLUMN cursor TEXT;
