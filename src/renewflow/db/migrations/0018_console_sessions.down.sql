DROP FUNCTION consume_console_login_link(bytea);
DROP FUNCTION authenticate_console_session(bytea);
DROP TABLE console_login_links;
DROP TABLE console_sessions;
