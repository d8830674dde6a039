-- Frozen: the mysql schema GORM AutoMigrate created in authql's first release (before
-- versioned migrations), captured from a real database. Never regenerate it from
-- the models: the upgrade test must start from what that release really made.
CREATE TABLE `audit_events` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `created_at` datetime(3) NOT NULL,
  `type` varchar(32) NOT NULL,
  `user_id` varchar(36) DEFAULT NULL,
  `session_id` varchar(36) DEFAULT NULL,
  `ip_address` varchar(45) DEFAULT NULL,
  `user_agent` varchar(512) DEFAULT NULL,
  `detail` varchar(64) DEFAULT NULL,
  `count` bigint(20) NOT NULL DEFAULT 1,
  `dedupe_key` char(64) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_audit_events_dedupe` (`dedupe_key`),
  KEY `idx_audit_events_created` (`created_at`),
  KEY `idx_audit_events_user` (`user_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `email_tokens` (
  `id` varchar(36) NOT NULL,
  `user_id` varchar(36) NOT NULL,
  `kind` varchar(16) NOT NULL,
  `hash` char(64) NOT NULL,
  `created_at` datetime(3) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  `used_at` datetime(3) DEFAULT NULL,
  `voided_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_email_tokens_hash` (`hash`),
  KEY `idx_email_tokens_user` (`user_id`,`kind`),
  KEY `idx_email_tokens_expires` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `mfa_challenges` (
  `id` varchar(36) NOT NULL,
  `user_id` varchar(36) NOT NULL,
  `hash` char(64) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  `failed_attempts` bigint(20) NOT NULL DEFAULT 0,
  `credentials_version` bigint(20) unsigned NOT NULL DEFAULT 0,
  `used_at` datetime(3) DEFAULT NULL,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_mfa_challenges_hash` (`hash`),
  KEY `idx_mfa_challenges_user` (`user_id`),
  KEY `idx_mfa_challenges_expires` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `outbox_mails` (
  `id` varchar(36) NOT NULL,
  `kind` varchar(32) NOT NULL,
  `recipient` varchar(254) NOT NULL,
  `body` longblob NOT NULL,
  `attempts` bigint(20) NOT NULL DEFAULT 0,
  `next_attempt_at` datetime(3) NOT NULL,
  `claimed_by` varchar(64) DEFAULT NULL,
  `claimed_until` datetime(3) DEFAULT NULL,
  `last_error` varchar(32) DEFAULT NULL,
  `created_at` datetime(3) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_outbox_mails_due` (`next_attempt_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `recovery_codes` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `user_id` varchar(36) NOT NULL,
  `hash` char(64) NOT NULL,
  `used_at` datetime(3) DEFAULT NULL,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_recovery_codes_hash` (`hash`),
  KEY `idx_recovery_codes_user` (`user_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `refresh_tokens` (
  `id` varchar(36) NOT NULL,
  `session_id` varchar(36) NOT NULL,
  `parent_id` varchar(36) DEFAULT NULL,
  `hash` char(64) NOT NULL,
  `issued_at` datetime(3) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  `used_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_refresh_tokens_hash` (`hash`),
  KEY `idx_refresh_tokens_session` (`session_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `sessions` (
  `id` varchar(36) NOT NULL,
  `user_id` varchar(36) NOT NULL,
  `current_token_id` varchar(36) NOT NULL,
  `user_agent` varchar(512) DEFAULT NULL,
  `ip_address` varchar(45) DEFAULT NULL,
  `created_at` datetime(3) NOT NULL,
  `last_used_at` datetime(3) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  `revoked_at` datetime(3) DEFAULT NULL,
  `revoked_reason` varchar(32) DEFAULT NULL,
  `amr` varchar(32) NOT NULL DEFAULT 'pwd',
  PRIMARY KEY (`id`),
  KEY `idx_sessions_user_live` (`user_id`,`revoked_at`,`expires_at`),
  KEY `idx_sessions_expires` (`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `totp_factors` (
  `user_id` varchar(36) NOT NULL,
  `secret` varbinary(255) NOT NULL,
  `confirmed_at` datetime(3) DEFAULT NULL,
  `last_used_step` bigint(20) NOT NULL DEFAULT 0,
  `created_at` datetime(3) NOT NULL,
  PRIMARY KEY (`user_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE `users` (
  `id` varchar(36) NOT NULL,
  `email` varchar(254) NOT NULL,
  `password_hash` varchar(255) NOT NULL,
  `credentials_version` bigint(20) unsigned NOT NULL DEFAULT 0,
  `email_verified` tinyint(1) NOT NULL DEFAULT 0,
  `mfa_enabled` tinyint(1) NOT NULL DEFAULT 0,
  `created_at` datetime(3) NOT NULL,
  `updated_at` datetime(3) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_users_email` (`email`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
