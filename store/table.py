"""The object table: every object, its copies, the nodes and a metrics history, in one SQLite file.

Crash safety: the file is in WAL mode with ``synchronous=FULL``.  WAL alone already survives a SIGKILL of
the manager at any point (a commit is in the WAL before ``COMMIT`` returns, and a torn transaction is
ignored on the next open); FULL also fsyncs the WAL at every commit, so a commit survives a power loss
too.  NORMAL would not: the manager deletes its spool copy once the table has recorded the two replicas,
and a placement lost after that would leave the object only on the nodes, waiting for an inventory.
Commits are few and small (one per placement or repair step), so the fsync costs little.

Threads: each thread has its own connection (``threading.local``) with a busy timeout; every write is
one ``BEGIN IMMEDIATE`` transaction, which takes the write lock up front so two writers wait for each
other instead of failing with "database is locked"; reads of more than one statement run in a deferred
transaction, so they see one snapshot.  A thread's connection lives until ``close()``.  Sets of names
(live nodes, ids) travel as one JSON parameter read with ``json_each`` (SQLite 3.38+, or JSON1 built in).
Ids are checked (``store.ids``) before anything is written; reads of an unknown or malformed id find nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from store.ids import check_node_id, check_object_id, check_sha256
from store.model import Node, NodeState, Replica, StoredObject

SCHEMA_VERSION = 1
GOOD_COPIES = 2  # the copies every object should have
BUSY_TIMEOUT_S = 30.0  # how long a connection waits for another's write lock before failing

_SCHEMA = """
CREATE TABLE objects (
    id TEXT PRIMARY KEY, size INTEGER NOT NULL CHECK (size > 0), sha256 TEXT NOT NULL,
    version INTEGER NOT NULL, spooled INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX objects_by_sha256 ON objects (sha256);
CREATE TABLE replicas (
    object_id TEXT NOT NULL REFERENCES objects (id) ON DELETE CASCADE, node TEXT NOT NULL,
    sha256 TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (object_id, node)) WITHOUT ROWID;
CREATE INDEX replicas_by_node ON replicas (node);
CREATE TABLE tombstones (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE nodes (
    name TEXT PRIMARY KEY, address TEXT NOT NULL, state TEXT NOT NULL, disk_used INTEGER, disk_total INTEGER);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counters VALUES ('seq', 0);
CREATE TABLE metrics (at REAL NOT NULL, name TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL);
CREATE INDEX metrics_by_time ON metrics (at);
CREATE INDEX metrics_by_name ON metrics (name, at);
"""
_OBJECT = "SELECT id, size, sha256, version, spooled FROM objects o"
_LIVE = "r.object_id = o.id AND r.node IN (SELECT value FROM json_each(:live))"  # copies of o on live nodes
_GOOD = f"(SELECT count(*) FROM replicas r WHERE {_LIVE} AND r.sha256 = o.sha256)"
_STALE = f"EXISTS (SELECT 1 FROM replicas r WHERE {_LIVE} AND r.sha256 != o.sha256)"


class SchemaMismatch(RuntimeError):
    """The file is not an object table of the schema version this code reads."""


@dataclass(frozen=True)
class NodeRow:
    name: str
    address: str
    state: NodeState
    objects: int  # copies recorded on the node, good or stale
    bytes: int  # their sizes summed
    disk_used: int | None  # as the node last reported
    disk_total: int | None


@dataclass(frozen=True)
class TableStats:
    objects: int
    bytes: int  # of the objects, one copy each
    under_replicated: int  # objects with fewer than two good copies on live nodes
    spooled: int  # objects whose current version the spool still holds


def _check_size(size: object) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ValueError(f"an object's size must be a positive integer, not {size!r}")
    return size


def _json(names: Iterable[str]) -> str:
    """A set of names as one bound parameter, read in SQL with ``json_each``: no IN list to build or split."""
    return json.dumps(sorted(set(names)))


class ObjectTable:
    """The manager's record of every object and copy; safe to share between threads and processes."""

    def __init__(self, path: str | os.PathLike) -> None:
        self._path = os.fspath(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        try:
            self._create_or_check()
        except BaseException:
            self.close()
            raise

    def _create_or_check(self) -> None:
        with self._write() as conn:  # one creator, even when two processes open a new file at once
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                for statement in filter(str.strip, _SCHEMA.split(";")):  # not executescript: it would COMMIT
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise SchemaMismatch(f"{self._path}: schema version {version}, this code reads {SCHEMA_VERSION}")

    def close(self) -> None:
        """Closes every thread's connection; call it once the table's users have stopped."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                if self._closed:
                    raise sqlite3.ProgrammingError(f"the object table {self._path} is closed")
                conn = sqlite3.connect(
                    self._path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
                )
                self._connections.append(conn)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        elif self._closed:
            raise sqlite3.ProgrammingError(f"the object table {self._path} is closed")
        return conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        conn.execute(begin)
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._transaction("BEGIN IMMEDIATE")

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:  # several statements, one snapshot
        return self._transaction("BEGIN")

    # -- objects and copies --

    def _load(self, conn: sqlite3.Connection, where: str = "", params: dict | tuple = ()) -> list[StoredObject]:
        rows = conn.execute(f"{_OBJECT} {where}", params).fetchall()
        replicas: dict[str, list[Replica]] = defaultdict(list)
        query = "SELECT object_id, node, sha256, seq FROM replicas WHERE object_id IN (SELECT value FROM json_each(?))"
        for object_id, node, sha256, seq in conn.execute(query + " ORDER BY seq", (_json(row[0] for row in rows),)):
            replicas[object_id].append(Replica(node, sha256, seq))
        return [
            StoredObject(id_, size, sha, version, tuple(replicas[id_]), bool(spooled))
            for id_, size, sha, version, spooled in rows
        ]

    def _one(self, conn: sqlite3.Connection, object_id: str) -> StoredObject | None:
        found = self._load(conn, "WHERE id = ?", (object_id,))
        return found[0] if found else None

    @staticmethod
    def _next_seq(conn: sqlite3.Connection) -> int:
        conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'seq'")
        return conn.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()[0]

    def last_seq(self) -> int:
        """The seq of the newest copy recorded so far: every copy recorded after this call has a larger one."""
        return self._connection().execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()[0]

    def record_put(self, object_id: str, size: int, sha256: str) -> StoredObject:
        """A new object (version 1) or a new version of an id: its copies stay, stale unless their sha matches."""
        check_object_id(object_id)
        _check_size(size)
        check_sha256(sha256)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO objects VALUES (?, ?, ?, 1, 1) ON CONFLICT (id) DO UPDATE SET size = excluded.size,"
                " sha256 = excluded.sha256, version = version + 1, spooled = 1",
                (object_id, size, sha256),
            )
            conn.execute("DELETE FROM tombstones WHERE id = ?", (object_id,))
            return self._one(conn, object_id)

    def get(self, object_id: str) -> StoredObject | None:
        with self._read() as conn:
            return self._one(conn, object_id)

    def objects(self) -> list[StoredObject]:
        with self._read() as conn:
            return self._load(conn, "ORDER BY id")

    def list_ids(self, prefix: str) -> list[str]:
        """Ids starting with ``prefix``, sorted.  A range of the primary key, not LIKE: LIKE ignores the case
        of ASCII letters and cannot use the index; ids compare as UTF-8 bytes, in code point order."""
        conn = self._connection()
        end = prefix
        while end and end[-1] == chr(0x10FFFF):
            end = end[:-1]
        if not end:
            return [row[0] for row in conn.execute("SELECT id FROM objects WHERE id >= ? ORDER BY id", (prefix,))]
        end = end[:-1] + chr(ord(end[-1]) + 1)
        query = "SELECT id FROM objects WHERE id >= ? AND id < ? ORDER BY id"
        return [row[0] for row in conn.execute(query, (prefix, end))]

    def objects_on(self, node: str) -> list[StoredObject]:
        with self._read() as conn:
            return self._load(conn, "WHERE id IN (SELECT object_id FROM replicas WHERE node = ?) ORDER BY id", (node,))

    def needing_copies(self, live: Collection[str], limit: int = 1000) -> list[StoredObject]:
        """Objects with fewer than two good copies that something can copy from: those with one first (a
        node can copy them now), then those only the spool holds, each by id.  An object with no good copy
        on a live node and none in the spool is left out: it waits for a node that holds it to return, and
        must not fill the batch ahead of objects that can be helped now."""
        params = {"live": _json(live), "copies": GOOD_COPIES, "limit": limit}
        where = f"WHERE {_GOOD} < :copies AND ({_GOOD} > 0 OR o.spooled) ORDER BY {_GOOD} DESC, id LIMIT :limit"
        with self._read() as conn:
            return self._load(conn, where, params)

    def with_surplus(self, live: Collection[str], limit: int = 1000) -> list[StoredObject]:
        """Objects with more than two good copies, or a stale copy on a live node, by id."""
        params = {"live": _json(live), "copies": GOOD_COPIES, "limit": limit}
        with self._read() as conn:
            return self._load(conn, f"WHERE {_GOOD} > :copies OR {_STALE} ORDER BY id LIMIT :limit", params)

    def spooled_but_protected(self, live: Collection[str], limit: int = 1000) -> list[StoredObject]:
        """Objects still marked spooled that have two good copies on live nodes already, by id: their spool copy
        is no longer needed.  A placer leaves one so when it stops between recording the second copy and
        releasing the spool, or records copies while the registry counts no node live (the manager stopping, or
        just restarted); neither placing nor repairing touches an object with two good copies again."""
        params = {"live": _json(live), "copies": GOOD_COPIES, "limit": limit}
        with self._read() as conn:
            return self._load(conn, f"WHERE o.spooled AND {_GOOD} >= :copies ORDER BY id LIMIT :limit", params)

    def add_replica(self, object_id: str, node: str, sha256: str, version: int | None = None) -> bool:
        """Records that ``node`` holds a copy hashing to ``sha256``; False, nothing changed, when the object is
        gone or, with ``version``, a newer put superseded it.  A copy keeps its seq unless its sha changes."""
        check_object_id(object_id)
        check_node_id(node)
        check_sha256(sha256)
        with self._write() as conn:
            row = conn.execute("SELECT version FROM objects WHERE id = ?", (object_id,)).fetchone()
            if row is None or (version is not None and row[0] != version):
                return False
            held = conn.execute(
                "SELECT sha256 FROM replicas WHERE object_id = ? AND node = ?", (object_id, node)
            ).fetchone()
            if held is None or held[0] != sha256:
                conn.execute(
                    "INSERT OR REPLACE INTO replicas VALUES (?, ?, ?, ?)",
                    (object_id, node, sha256, self._next_seq(conn)),
                )
            return True

    def drop_replica(self, object_id: str, node: str) -> bool:
        check_object_id(object_id)
        check_node_id(node)
        with self._write() as conn:
            return conn.execute("DELETE FROM replicas WHERE object_id = ? AND node = ?", (object_id, node)).rowcount > 0

    def set_spooled(self, object_id: str, version: int, spooled: bool) -> bool:
        """Marks whether the spool holds ``version``; False when the object is gone or at another version."""
        check_object_id(object_id)
        with self._write() as conn:
            query = "UPDATE objects SET spooled = ? WHERE id = ? AND version = ?"
            return conn.execute(query, (int(spooled), object_id, version)).rowcount > 0

    def spooled_with(self, sha256: str) -> bool:
        """Whether an object still marked spooled has these bytes (the spool file must stay)."""
        query = "SELECT 1 FROM objects WHERE sha256 = ? AND spooled LIMIT 1"
        return self._connection().execute(query, (sha256,)).fetchone() is not None

    def delete(self, object_id: str) -> StoredObject | None:
        """Removes the object and its copies' records, leaving a tombstone; returns what was removed (its
        replicas say where the copies are).  An id the table does not hold: None, and no tombstone."""
        check_object_id(object_id)
        with self._write() as conn:
            gone = self._one(conn, object_id)
            if gone is not None:
                conn.execute("DELETE FROM objects WHERE id = ?", (object_id,))  # replicas cascade
                conn.execute("INSERT OR IGNORE INTO tombstones VALUES (?)", (object_id,))
            return gone

    def tombstoned(self, ids: Iterable[str]) -> set[str]:
        query = "SELECT id FROM tombstones WHERE id IN (SELECT value FROM json_each(?))"
        return {row[0] for row in self._connection().execute(query, (_json(ids),))}

    def adopt(self, object_id: str, size: int, sha256: str, node: str) -> StoredObject | None:
        """Records an object the table had lost, as a node reported it (version 1, not spooled, that copy);
        None, nothing done, when the id exists or is tombstoned by then."""
        check_object_id(object_id)
        _check_size(size)
        check_sha256(sha256)
        check_node_id(node)
        with self._write() as conn:
            known = "SELECT 1 FROM objects WHERE id = ?1 UNION ALL SELECT 1 FROM tombstones WHERE id = ?1"
            if conn.execute(known, (object_id,)).fetchone():
                return None
            conn.execute("INSERT INTO objects VALUES (?, ?, ?, 1, 0)", (object_id, size, sha256))
            conn.execute("INSERT INTO replicas VALUES (?, ?, ?, ?)", (object_id, node, sha256, self._next_seq(conn)))
            return self._one(conn, object_id)

    # -- nodes --

    def upsert_node(
        self, name: str, address: str, state: NodeState, disk_used: int | None = None, disk_total: int | None = None
    ) -> None:
        """Records a node; a disk figure left None keeps the one last reported."""
        check_node_id(name)
        state = NodeState(state)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO nodes VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET address = excluded.address,"
                " state = excluded.state, disk_used = coalesce(excluded.disk_used, disk_used),"
                " disk_total = coalesce(excluded.disk_total, disk_total)",
                (name, address, state.value, disk_used, disk_total),
            )

    def set_node_state(self, name: str, state: NodeState) -> bool:
        """Changes a known node's state; False (nothing recorded) for a node the table does not know."""
        check_node_id(name)
        state = NodeState(state)
        with self._write() as conn:
            return conn.execute("UPDATE nodes SET state = ? WHERE name = ?", (state.value, name)).rowcount > 0

    def node_stats(self) -> list[NodeRow]:
        """Every known node by name, with the copies the table records on it."""
        rows = self._connection().execute(
            "SELECT n.name, n.address, n.state, count(o.id), coalesce(sum(o.size), 0), n.disk_used, n.disk_total"
            " FROM nodes n LEFT JOIN replicas r ON r.node = n.name LEFT JOIN objects o ON o.id = r.object_id"
            " GROUP BY n.name ORDER BY n.name"
        )
        return [NodeRow(name, address, NodeState(state), *rest) for name, address, state, *rest in rows]

    def nodes(self) -> dict[str, Node]:
        return {
            row.name: Node(
                row.name,
                row.address,
                row.state,
                used_bytes=row.bytes,
                disk_free=None if row.disk_used is None or row.disk_total is None else row.disk_total - row.disk_used,
            )
            for row in self.node_stats()
        }

    # -- figures --

    def stats(self, live: Collection[str]) -> TableStats:
        row = self._connection().execute(
            f"SELECT count(*), coalesce(sum(size), 0), coalesce(sum({_GOOD} < :copies), 0),"
            " coalesce(sum(spooled), 0) FROM objects o",
            {"live": _json(live), "copies": GOOD_COPIES},
        )
        return TableStats(*row.fetchone())

    def record_metrics(self, at: float, samples: Iterable[tuple[str, str, float]]) -> None:
        """Appends one sample per (name, labels text, value), all taken at ``at`` (seconds since the epoch)."""
        rows = [(float(at), str(name), str(labels), float(value)) for name, labels, value in samples]
        with self._write() as conn:
            conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)", rows)

    def metrics_history(self, name: str | None = None, since: float = 0.0) -> list[tuple[float, str, str, float]]:
        """Samples taken at ``since`` or later, of ``name`` or of every metric, oldest first."""
        where, params = ("at >= ? AND name = ?", (since, name)) if name is not None else ("at >= ?", (since,))
        query = f"SELECT at, name, labels, value FROM metrics WHERE {where} ORDER BY at, rowid"
        return [tuple(row) for row in self._connection().execute(query, params)]

    def prune_metrics(self, before: float) -> int:
        """Deletes the samples taken before ``before``; returns how many."""
        with self._write() as conn:
            return conn.execute("DELETE FROM metrics WHERE at < ?", (before,)).rowcount
