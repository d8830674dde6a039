-- The schema of authql's first release, as GORM AutoMigrate created it
-- (sqlite_master): a database that release made is adopted unchanged, since
-- every table and index already exists.

-- +goose Up

CREATE TABLE IF NOT EXISTS `audit_events` (`id` integer PRIMARY KEY AUTOINCREMENT,`created_at` datetime NOT NULL,`type` varchar(32) NOT NULL,`user_id` varchar(36),`session_id` varchar(36),`ip_address` varchar(45),`user_agent` varchar(512),`detail` varchar(64),`count` integer NOT NULL DEFAULT 1,`dedupe_key` char(64));
CREATE INDEX IF NOT EXISTS `idx_audit_events_created` ON `audit_events`(`created_at`);
CREATE UNIQUE INDEX IF NOT EXISTS `idx_audit_events_dedupe` ON `audit_events`(`dedupe_key`);
CREATE INDEX IF NOT EXISTS `idx_audit_events_user` ON `audit_events`(`user_id`);

CREATE TABLE IF NOT EXISTS `email_tokens` (`id` varchar(36),`user_id` varchar(36) NOT NULL,`kind` varchar(16) NOT NULL,`hash` char(64) NOT NULL,`created_at` datetime NOT NULL,`expires_at` datetime NOT NULL,`used_at` datetime,`voided_at` datetime,PRIMARY KEY (`id`));
CREATE INDEX IF NOT EXISTS `idx_email_tokens_expires` ON `email_tokens`(`expires_at`);
CREATE UNIQUE INDEX IF NOT EXISTS `idx_email_tokens_hash` ON `email_tokens`(`hash`);
CREATE INDEX IF NOT EXISTS `idx_email_tokens_user` ON `email_tokens`(`user_id`,`kind`);

CREATE TABLE IF NOT EXISTS `mfa_challenges` (`id` varchar(36),`user_id` varchar(36) NOT NULL,`hash` char(64) NOT NULL,`expires_at` datetime NOT NULL,`failed_attempts` integer NOT NULL DEFAULT 0,`credentials_version` integer NOT NULL DEFAULT 0,`used_at` datetime,`created_at` datetime NOT NULL,PRIMARY KEY (`id`));
CREATE INDEX IF NOT EXISTS `idx_mfa_challenges_expires` ON `mfa_challenges`(`expires_at`);
CREATE UNIQUE INDEX IF NOT EXISTS `idx_mfa_challenges_hash` ON `mfa_challenges`(`hash`);
CREATE INDEX IF NOT EXISTS `idx_mfa_challenges_user` ON `mfa_challenges`(`user_id`);

CREATE TABLE IF NOT EXISTS `outbox_mails` (`id` varchar(36),`kind` varchar(32) NOT NULL,`recipient` varchar(254) NOT NULL,`body` blob NOT NULL,`attempts` integer NOT NULL DEFAULT 0,`next_attempt_at` datetime NOT NULL,`claimed_by` varchar(64),`claimed_until` datetime,`last_error` varchar(32),`created_at` datetime NOT NULL,`expires_at` datetime NOT NULL,PRIMARY KEY (`id`));
CREATE INDEX IF NOT EXISTS `idx_outbox_mails_due` ON `outbox_mails`(`next_attempt_at`);

CREATE TABLE IF NOT EXISTS `recovery_codes` (`id` integer PRIMARY KEY AUTOINCREMENT,`user_id` varchar(36) NOT NULL,`hash` char(64) NOT NULL,`used_at` datetime,`created_at` datetime NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS `idx_recovery_codes_hash` ON `recovery_codes`(`hash`);
CREATE INDEX IF NOT EXISTS `idx_recovery_codes_user` ON `recovery_codes`(`user_id`);

CREATE TABLE IF NOT EXISTS `refresh_tokens` (`id` varchar(36),`session_id` varchar(36) NOT NULL,`parent_id` varchar(36),`hash` char(64) NOT NULL,`issued_at` datetime NOT NULL,`expires_at` datetime NOT NULL,`used_at` datetime,PRIMARY KEY (`id`));
CREATE UNIQUE INDEX IF NOT EXISTS `idx_refresh_tokens_hash` ON `refresh_tokens`(`hash`);
CREATE INDEX IF NOT EXISTS `idx_refresh_tokens_session` ON `refresh_tokens`(`session_id`);

CREATE TABLE IF NOT EXISTS `sessions` (`id` varchar(36),`user_id` varchar(36) NOT NULL,`current_token_id` varchar(36) NOT NULL,`user_agent` varchar(512),`ip_address` varchar(45),`created_at` datetime NOT NULL,`last_used_at` datetime NOT NULL,`expires_at` datetime NOT NULL,`revoked_at` datetime,`revoked_reason` varchar(32),`amr` varchar(32) NOT NULL DEFAULT "pwd",PRIMARY KEY (`id`));
CREATE INDEX IF NOT EXISTS `idx_sessions_expires` ON `sessions`(`expires_at`);
CREATE INDEX IF NOT EXISTS `idx_sessions_user_live` ON `sessions`(`user_id`,`revoked_at`,`expires_at`);

CREATE TABLE IF NOT EXISTS `totp_factors` (`user_id` varchar(36),`secret` blob NOT NULL,`confirmed_at` datetime,`last_used_step` integer NOT NULL DEFAULT 0,`created_at` datetime NOT NULL,PRIMARY KEY (`user_id`));

CREATE TABLE IF NOT EXISTS `users` (`id` varchar(36),`email` varchar(254) NOT NULL,`password_hash` varchar(255) NOT NULL,`credentials_version` integer NOT NULL DEFAULT 0,`email_verified` numeric NOT NULL DEFAULT false,`mfa_enabled` numeric NOT NULL DEFAULT false,`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL,PRIMARY KEY (`id`));
CREATE UNIQUE INDEX IF NOT EXISTS `idx_users_email` ON `users`(`email`);

-- +goose Down
DROP TABLE IF EXISTS `users`;
DROP TABLE IF EXISTS `totp_factors`;
DROP TABLE IF EXISTS `sessions`;
DROP TABLE IF EXISTS `refresh_tokens`;
DROP TABLE IF EXISTS `recovery_codes`;
DROP TABLE IF EXISTS `outbox_mails`;
DROP TABLE IF EXISTS `mfa_challenges`;
DROP TABLE IF EXISTS `email_tokens`;
DROP TABLE IF EXISTS `audit_events`;
