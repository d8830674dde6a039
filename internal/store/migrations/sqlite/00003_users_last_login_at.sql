-- users.last_login_at (see the mysql file for the reasons).

-- +goose Up
ALTER TABLE `users` ADD COLUMN `last_login_at` datetime;

-- +goose Down
ALTER TABLE `users` DROP COLUMN `last_login_at`;
