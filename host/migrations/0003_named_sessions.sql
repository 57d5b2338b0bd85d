-- Sessions may be named by their caller (AgentCore Runtime names each runtime session, a UUID),
-- not only by the host (ses_...): any id AgentCore Memory would take as a session id.

ALTER TABLE host.sessions DROP CONSTRAINT sessions_session_id_check;
ALTER TABLE host.sessions ADD CONSTRAINT sessions_session_id_check
    CHECK (session_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$');
