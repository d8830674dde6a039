-- Deleting an account deletes its queued mail by recipient (DeleteQueuedMail):
-- an index instead of a scan of the outbox. (The row locks this fixes on
-- MySQL do not exist in SQLite; the index is here so both dialects have one
-- schema.)

-- +goose Up
CREATE INDEX IF NOT EXISTS `idx_outbox_mails_recipient` ON `outbox_mails`(`recipient`);

-- +goose Down
DROP INDEX IF EXISTS `idx_outbox_mails_recipient`;
