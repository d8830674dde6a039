-- The first upgrade after the baseline (see the mysql file for the reasons).
-- idx_outbox_mails_recipient: an account deletion finds its queued mail by
-- address through an index instead of a scan. authql_data_migrations was
-- created at start by earlier binaries: IF NOT EXISTS adopts it.

-- +goose Up
CREATE TABLE IF NOT EXISTS `authql_data_migrations` (`name` varchar(64) NOT NULL,`applied_at` integer NOT NULL,PRIMARY KEY (`name`));
CREATE INDEX IF NOT EXISTS `idx_outbox_mails_recipient` ON `outbox_mails`(`recipient`);

-- +goose Down
DROP INDEX IF EXISTS `idx_outbox_mails_recipient`;
DROP TABLE IF EXISTS `authql_data_migrations`;
