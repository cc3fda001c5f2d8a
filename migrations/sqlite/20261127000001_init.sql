-- Proposals: one row per proposed mutation; state changes are compare-and-set updates.
CREATE TABLE proposals (
    id            TEXT PRIMARY KEY NOT NULL,
    action        TEXT NOT NULL,
    args          TEXT NOT NULL,      -- canonical JSON of the typed arguments
    plan          TEXT NOT NULL,      -- JSON ChangePlan
    environment   TEXT,
    requester     TEXT NOT NULL,
    conversation  TEXT NOT NULL,      -- JSON ConversationKey
    conv_key      TEXT NOT NULL,      -- "surface:channel:thread", for lookups
    state         TEXT NOT NULL,
    approvals     TEXT NOT NULL DEFAULT '[]',
    created_at    INTEGER NOT NULL,   -- unix milliseconds
    expires_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    outcome       TEXT
);
CREATE INDEX proposals_by_conversation ON proposals (conv_key, state, created_at);

-- Audit log: append-only.
CREATE TABLE audit (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    user_id      TEXT NOT NULL,
    conversation TEXT NOT NULL,
    action       TEXT NOT NULL,
    event        TEXT NOT NULL,       -- read | propose | confirm | cancel | execute | refuse
    args         TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    detail       TEXT,
    proposal_id  TEXT,
    duration_ms  INTEGER
);
CREATE INDEX audit_by_user ON audit (user_id, at);
CREATE INDEX audit_by_action ON audit (action, at);

-- Thread memory: the turns of each conversation, with their token counts.
CREATE TABLE turns (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    conv_key     TEXT NOT NULL,
    at           INTEGER NOT NULL,
    role         TEXT NOT NULL,       -- user | bot
    text         TEXT NOT NULL,
    tokens       INTEGER NOT NULL
);
CREATE INDEX turns_by_conversation ON turns (conv_key, seq);

-- Per-thread planner state (a pending clarification, the previous tool call).
CREATE TABLE thread_state (
    conv_key     TEXT PRIMARY KEY NOT NULL,
    state        TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
);
