-- users.last_login_at and users.login_count: when the user last started a
-- session with a password (and second factor), and how many times. A login
-- writes both in the transaction that creates its session: on Galera only
-- rows a transaction changes conflict across nodes, so a login and a password
-- change on different nodes now collide at commit, and the login runs again
-- and is refused, as it is on one server, where the login's locking read of
-- the row already orders them. The count makes every login change the row,
-- even two in one millisecond. ADD COLUMN of a nullable column, or of one
-- with a constant default, is an instant change on MariaDB 10.3+ (no table
-- copy), so it is brief under TOI.

-- +goose Up
ALTER TABLE `users` ADD COLUMN `last_login_at` datetime(3) NULL, ADD COLUMN `login_count` bigint unsigned NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE `users` DROP COLUMN `login_count`, DROP COLUMN `last_login_at`;
