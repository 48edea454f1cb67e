"""SQLite schema as a list of migration steps; ``PRAGMA user_version`` is the number of steps applied.

Never edit a released step: append a new one. Times are INTEGER microseconds since the Unix epoch (UTC), exact
and cheap to compare; JSON documents are BLOBs of UTF-8 JSON, stored as they will be served.
"""

from __future__ import annotations

STEP_1 = (
    """CREATE TABLE talks (
        slug        TEXT PRIMARY KEY,
        uuid        TEXT NOT NULL UNIQUE,
        version     INTEGER NOT NULL CHECK (version >= 0),
        object_hash TEXT NOT NULL,
        published   INTEGER NOT NULL,
        updated     INTEGER NOT NULL,
        deleted     INTEGER,
        object      BLOB NOT NULL
    )""",
    "CREATE INDEX talks_live ON talks (published DESC, slug) WHERE deleted IS NULL",
    """CREATE TABLE activities (
        id          TEXT PRIMARY KEY,
        actor_role  TEXT NOT NULL,
        type        TEXT NOT NULL,
        slug        TEXT,
        published   INTEGER NOT NULL,
        json        BLOB NOT NULL
    )""",
    "CREATE INDEX activities_published ON activities (published DESC, id DESC)",
    # state: pending (never resolved) | retrying | done | dead. A claim leases a row by moving `due` to the lease
    # expiry, so a crashed worker's rows become due again by themselves.
    """CREATE TABLE deliveries (
        id           INTEGER PRIMARY KEY,
        activity_id  TEXT NOT NULL REFERENCES activities (id) ON DELETE CASCADE,
        inbox        TEXT NOT NULL,
        host         TEXT NOT NULL,
        actor_role   TEXT NOT NULL,
        state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'retrying', 'done', 'dead')),
        due          INTEGER NOT NULL,
        created      INTEGER NOT NULL,
        worker       TEXT,
        attempts     INTEGER NOT NULL DEFAULT 0,
        last_status  INTEGER,
        last_error   TEXT,
        last_attempt INTEGER,
        UNIQUE (activity_id, inbox)
    )""",
    "CREATE INDEX deliveries_due ON deliveries (due, id) WHERE state IN ('pending', 'retrying')",
    "CREATE INDEX deliveries_attempt ON deliveries (last_attempt)",
    # target = shared_inbox or inbox, target_host its authority: kept as columns so that the fan-out query is a
    # single covering-index scan, already in target order (no sort, no temporary table).
    """CREATE TABLE followers (
        role         TEXT NOT NULL,
        actor_id     TEXT NOT NULL,
        inbox        TEXT NOT NULL,
        shared_inbox TEXT,
        host         TEXT NOT NULL,
        follow_id    TEXT,
        since        INTEGER NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('accepted', 'pending')),
        target       TEXT NOT NULL,
        target_host  TEXT NOT NULL,
        PRIMARY KEY (role, actor_id)
    )""",
    "CREATE INDEX followers_since ON followers (role, state, since, actor_id)",
    "CREATE INDEX followers_actor ON followers (actor_id)",
    "CREATE INDEX followers_host ON followers (host)",
    "CREATE INDEX followers_target ON followers (state, target, role, actor_id, target_host)",
    "CREATE TABLE seen (id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE INDEX seen_at ON seen (at)",
    """CREATE TABLE received (
        id    TEXT PRIMARY KEY,
        type  TEXT NOT NULL,
        actor TEXT NOT NULL,
        at    INTEGER NOT NULL,
        json  BLOB NOT NULL
    )""",
    "CREATE INDEX received_actor ON received (actor)",
    "CREATE TABLE actors (actor_id TEXT PRIMARY KEY, document BLOB NOT NULL, fetched_at INTEGER NOT NULL)",
    """CREATE TABLE keys (
        key_id     TEXT PRIMARY KEY,
        owner      TEXT NOT NULL REFERENCES actors (actor_id) ON DELETE CASCADE,
        material   TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('pem', 'multibase')),
        fetched_at INTEGER NOT NULL
    )""",
    "CREATE INDEX keys_owner ON keys (owner)",
    "CREATE TABLE gone (actor_id TEXT PRIMARY KEY, at INTEGER NOT NULL)",
    """CREATE TABLE jobs (
        id         INTEGER PRIMARY KEY,
        kind       TEXT NOT NULL,
        payload    BLOB NOT NULL,
        state      TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
        due        INTEGER NOT NULL,
        created    INTEGER NOT NULL,
        worker     TEXT,
        attempts   INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    )""",
    "CREATE INDEX jobs_due ON jobs (due, id) WHERE state = 'pending'",
    """CREATE TABLE hosts (
        host          TEXT PRIMARY KEY,
        failing_since INTEGER NOT NULL,
        last_failure  INTEGER NOT NULL,
        failures      INTEGER NOT NULL
    )""",
    "CREATE TABLE blocks (value TEXT PRIMARY KEY)",
    """CREATE TABLE comments (
        id            TEXT PRIMARY KEY,
        slug          TEXT NOT NULL REFERENCES talks (slug),
        parent_id     TEXT,
        author_id     TEXT NOT NULL,
        author_name   TEXT,
        author_handle TEXT,
        author_avatar TEXT,
        author_url    TEXT,
        content_html  TEXT NOT NULL,
        language      TEXT,
        published     INTEGER NOT NULL,
        url           TEXT,
        state         TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'hidden')),
        updated       INTEGER
    )""",
    "CREATE INDEX comments_slug ON comments (slug, state, published, id)",
    "CREATE INDEX comments_author ON comments (author_id)",
    "CREATE INDEX comments_pending ON comments (published, id) WHERE state = 'pending'",
    """CREATE TABLE reactions (
        slug        TEXT NOT NULL REFERENCES talks (slug),
        kind        TEXT NOT NULL CHECK (kind IN ('like', 'announce')),
        actor_id    TEXT NOT NULL,
        activity_id TEXT NOT NULL,
        at          INTEGER NOT NULL,
        PRIMARY KEY (slug, kind, actor_id)
    )""",
    "CREATE INDEX reactions_activity ON reactions (activity_id)",
    "CREATE INDEX reactions_actor ON reactions (actor_id)",
)

STEP_2 = (
    # host and state (which SQLite checks again) join the queue's index: a claim reads its window of due rows from
    # the index alone, without looking each row up in the table (claims were the worker's largest cost after signing)
    "DROP INDEX deliveries_due",
    "CREATE INDEX deliveries_due ON deliveries (due, id, host, state) WHERE state IN ('pending', 'retrying')",
)

STEP_3 = (
    # Every Follow id a follower sent and we recorded (followers.follow_id holds only the latest): a bare-id Undo
    # may name any of them (Mastodon re-sends Follows with new ids). The rows go and move with their follower.
    """CREATE TABLE follow_ids (
        role      TEXT NOT NULL,
        actor_id  TEXT NOT NULL,
        follow_id TEXT NOT NULL,
        PRIMARY KEY (role, actor_id, follow_id),
        FOREIGN KEY (role, actor_id) REFERENCES followers (role, actor_id) ON DELETE CASCADE ON UPDATE CASCADE
    ) WITHOUT ROWID""",
    "CREATE INDEX follow_ids_id ON follow_ids (follow_id)",
    "INSERT INTO follow_ids (role, actor_id, follow_id) "
    "SELECT role, actor_id, follow_id FROM followers WHERE follow_id IS NOT NULL",
)

STEP_4 = (
    # a talk's pinned state as last announced (Add/Remove to the featured collection); version counts the changes
    """CREATE TABLE pins (
        slug    TEXT PRIMARY KEY REFERENCES talks (slug),
        version INTEGER NOT NULL CHECK (version >= 1),
        pinned  INTEGER NOT NULL CHECK (pinned IN (0, 1)),
        at      INTEGER NOT NULL
    )""",
    # QuoteAuthorizations granted to remote posts; revoked when the quoting post is deleted
    """CREATE TABLE quotes (
        id         TEXT PRIMARY KEY,
        slug       TEXT NOT NULL REFERENCES talks (slug),
        quoting    TEXT NOT NULL,
        author     TEXT NOT NULL,
        request_id TEXT,
        created    INTEGER NOT NULL,
        revoked    INTEGER
    )""",
    "CREATE INDEX quotes_quoting ON quotes (quoting)",
    "CREATE INDEX quotes_author ON quotes (author)",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (STEP_1, STEP_2, STEP_3, STEP_4)
"""Step n (1-based) takes the schema from version n-1 to n."""
