-- users.last_login_at: when the user last started a session with a password
-- (and second factor). A login writes it in the transaction that creates its
-- session: on Galera only written rows conflict across nodes, so a login and
-- a password change on different nodes now collide at commit, and the login
-- runs again and is refused, as it is on one server, where the login's
-- locking read of the row already orders them. ADD COLUMN of a nullable
-- column with no default is an instant change on MariaDB 10.3+ (no table
-- copy), so it is brief under TOI.

-- +goose Up
ALTER TABLE `users` ADD COLUMN `last_login_at` datetime(3) NULL;

-- +goose Down
ALTER TABLE `users` DROP COLUMN `last_login_at`;
