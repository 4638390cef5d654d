"""The SQLite schema, versioned with `PRAGMA user_version` and migrated forward only.

`events` is the append-only source of truth. `sessions`, `steps`, `state`, `llm_calls` and
`checkpoints` are projections (a fold of the events, rebuilt at any time). `commands` carries viewer
commands to the runner, `deltas` the live streamed text, `leases` one owner per running session.
`work` is the runner hosts' queue (a session to run, running on a host, or parked waiting for a person)
and `hosts` the live runner hosts, each renewing its row. `lessons` holds what people changed in the
lessons derived from their feedback (an edit, a removal, a lesson of their own), for every session of the store.
Every session's row carries its `session_id` so the same schema serves a shared PostgreSQL store.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            workflow TEXT NOT NULL,
            workflow_path TEXT NOT NULL DEFAULT '',
            workflow_hash TEXT NOT NULL DEFAULT '',
            workflow_text TEXT NOT NULL DEFAULT '',
            inputs TEXT NOT NULL DEFAULT '{}',
            options TEXT NOT NULL DEFAULT '{}',
            parent TEXT NOT NULL DEFAULT '',
            fork_step TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'new',
            reason TEXT NOT NULL DEFAULT '',
            error TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            ended_at REAL,
            active_s REAL NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            cost_unknown INTEGER NOT NULL DEFAULT 0,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            steps_total INTEGER NOT NULL DEFAULT 0,
            steps_done INTEGER NOT NULL DEFAULT 0,
            inbox INTEGER NOT NULL DEFAULT 0,
            degraded INTEGER NOT NULL DEFAULT 0,
            last_seq INTEGER NOT NULL DEFAULT 0,
            projected_seq INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX sessions_created ON sessions(created_at);

        CREATE TABLE events (
            session_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            ts REAL NOT NULL,
            kind TEXT NOT NULL,
            step TEXT NOT NULL DEFAULT '',
            payload TEXT NOT NULL,
            PRIMARY KEY (session_id, seq)
        ) WITHOUT ROWID;

        CREATE TABLE steps (
            session_id TEXT NOT NULL,
            path TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            attempts INTEGER NOT NULL DEFAULT 0,
            retries INTEGER NOT NULL DEFAULT 0,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            cost_unknown INTEGER NOT NULL DEFAULT 0,
            orchestration INTEGER NOT NULL DEFAULT 0,
            started_at REAL,
            ended_at REAL,
            note TEXT NOT NULL DEFAULT '',
            error TEXT NOT NULL DEFAULT '',
            output TEXT,
            writes TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (session_id, path)
        ) WITHOUT ROWID;

        CREATE TABLE state (
            session_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (session_id, key)
        ) WITHOUT ROWID;

        CREATE TABLE llm_calls (
            session_id TEXT NOT NULL,
            call_id TEXT NOT NULL,
            step TEXT NOT NULL,
            model TEXT NOT NULL,
            alias TEXT NOT NULL DEFAULT '',
            attempt INTEGER NOT NULL DEFAULT 1,
            status TEXT NOT NULL,
            request_hash TEXT NOT NULL DEFAULT '',
            request TEXT NOT NULL DEFAULT '{}',
            response TEXT NOT NULL DEFAULT '',
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            started_at REAL,
            ended_at REAL,
            latency_s REAL,
            ttft_s REAL,
            error TEXT NOT NULL DEFAULT '',
            error_type TEXT NOT NULL DEFAULT '',
            replayed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (session_id, call_id)
        ) WITHOUT ROWID;
        CREATE INDEX llm_calls_hash ON llm_calls(request_hash);

        CREATE TABLE checkpoints (
            session_id TEXT NOT NULL,
            checkpoint_id TEXT NOT NULL,
            step TEXT NOT NULL,
            reason TEXT NOT NULL,
            status TEXT NOT NULL,
            opened_seq INTEGER NOT NULL,
            opened_at REAL NOT NULL,
            decision TEXT NOT NULL DEFAULT '',
            decided_by TEXT NOT NULL DEFAULT '',
            decided_at REAL,
            PRIMARY KEY (session_id, checkpoint_id)
        ) WITHOUT ROWID;

        CREATE TABLE commands (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL,
            ts REAL NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'new',
            reason TEXT NOT NULL DEFAULT '',
            done_at REAL
        );
        CREATE INDEX commands_pending ON commands(session_id, status, id);

        CREATE TABLE deltas (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL,
            step TEXT NOT NULL,
            call_id TEXT NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX deltas_session ON deltas(session_id, id);

        CREATE TABLE leases (
            session_id TEXT PRIMARY KEY,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            token TEXT NOT NULL,
            acquired_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        """,
    ),
    (
        2,
        """
        CREATE TABLE work (
            session_id TEXT PRIMARY KEY,
            state TEXT NOT NULL DEFAULT 'queued',
            host_id TEXT NOT NULL DEFAULT '',
            options TEXT,
            models TEXT,
            env TEXT NOT NULL DEFAULT '',
            requested_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX work_state ON work(state, requested_at);

        CREATE TABLE hosts (
            id TEXT PRIMARY KEY,
            pid INTEGER NOT NULL,
            machine TEXT NOT NULL,
            started_at REAL NOT NULL,
            seen_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            sessions INTEGER NOT NULL DEFAULT 0,
            parked INTEGER NOT NULL DEFAULT 0,
            rss_bytes INTEGER NOT NULL DEFAULT 0,
            cpu_s REAL NOT NULL DEFAULT 0,
            load REAL NOT NULL DEFAULT 0,
            calls INTEGER NOT NULL DEFAULT 0,
            limits TEXT NOT NULL DEFAULT '{}',
            draining INTEGER NOT NULL DEFAULT 0,
            env TEXT NOT NULL DEFAULT ''
        );
        """,
    ),
    (
        3,
        """
        CREATE TABLE lessons (
            id TEXT PRIMARY KEY,
            workflow TEXT NOT NULL,
            step TEXT NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT 'added',
            deleted INTEGER NOT NULL DEFAULT 0,
            author TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX lessons_workflow ON lessons(workflow);
        """,
    ),
]

LATEST = MIGRATIONS[-1][0]
