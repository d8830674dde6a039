-- Deleting an account deletes its queued mail by recipient (DeleteQueuedMail)
-- inside the deletion's transaction. Without an index InnoDB scans the whole
-- outbox and locks every row and gap until that transaction ends: the mail
-- sender's SKIP LOCKED claims skip every other user's mail, and new mail
-- (signups, resets) waits on the gap locks. The index locks only the rows
-- being deleted.

-- +goose Up
CREATE INDEX `idx_outbox_mails_recipient` ON `outbox_mails` (`recipient`);

-- +goose Down
DROP INDEX `idx_outbox_mails_recipient` ON `outbox_mails`;
