-- The first upgrade after the baseline.
--
-- idx_outbox_mails_recipient: deleting an account deletes the mail queued
-- for its address (store.DeleteQueuedMail). The index makes finding those
-- rows a range read instead of a scan of the whole outbox; the locking is
-- settled in DeleteQueuedMail, which deletes by the primary keys it found
-- (a DELETE ... WHERE recipient = ? under REPEATABLE READ would still lock
-- the index gaps beside the address, or every row when the planner scans).
--
-- authql_data_migrations records one-time rewrites of rows (NormalizeEmails).
-- Earlier binaries created it at start outside the versioned schema, so a
-- database they ran on has it already: IF NOT EXISTS adopts it unchanged.
-- The table comes first: it is idempotent, so a run that failed at the index
-- can simply run again.
--
-- Under Galera's Total Order Isolation the index build blocks writes to
-- outbox_mails cluster-wide while it runs. The outbox holds only undelivered
-- mail; a backlog of 100,000 mails took 0.9 to 1.2 s with 2 KB bodies, 0.1 s
-- with 400-byte ones (MariaDB 10.11, 2 cores; README "DDL on a running
-- Galera cluster").

-- +goose Up
CREATE TABLE IF NOT EXISTS `authql_data_migrations` (
  `name` varchar(64) NOT NULL,
  `applied_at` bigint(20) NOT NULL,
  PRIMARY KEY (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE INDEX `idx_outbox_mails_recipient` ON `outbox_mails` (`recipient`);

-- +goose Down
-- Dropping the record of done data migrations only makes the binary of
-- version 1, which creates the table itself, check them once more: they are
-- idempotent.
DROP INDEX `idx_outbox_mails_recipient` ON `outbox_mails`;
DROP TABLE IF EXISTS `authql_data_migrations`;
