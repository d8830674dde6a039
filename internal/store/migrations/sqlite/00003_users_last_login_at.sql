-- users.last_login_at and users.login_count (see the mysql file for the reasons).

-- +goose Up
ALTER TABLE `users` ADD COLUMN `last_login_at` datetime;
ALTER TABLE `users` ADD COLUMN `login_count` integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE `users` DROP COLUMN `login_count`;
ALTER TABLE `users` DROP COLUMN `last_login_at`;
