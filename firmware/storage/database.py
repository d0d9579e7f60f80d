"""One SQLite file of the state directory that survives a corrupt file and a full disk.

`StateDatabase` is what every store uses instead of a bare `sqlite3.Connection` (same `execute`,
`executemany`, `executescript`, `commit`, `rollback` and `with db:` transactions):

- At open, a file that is not a database or fails SQLite's `quick_check` is quarantined (renamed, kept
  for analysis, see `StateDir.quarantine`), whatever rows can still be read are copied into a fresh file,
  and the store starts from that.
- A write that fails because the disk is full (SQLITE_FULL) never reaches the caller. An essential
  database first asks the state directory to release its reserve and retries on disk; if that is not
  enough (and always for a non-essential one) the database moves into memory: its content is copied into
  an in-memory database and the failed transaction is replayed there. `write_back` later copies it back to
  the file when there is space again (the state directory's monitor calls it).

Transactions are replayed, so a `with db:` block must not depend on anything but the database (the stores
only read and write their own tables there).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from firmware.storage.statedir import StateDir

log = logging.getLogger(__name__)

Setup = Callable[["StateDatabase"], object] | None
_T = TypeVar("_T")
_Step = tuple[str, str, Any]  # (method, sql, parameters) of one statement in a transaction


def disk_full(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorcode", None) == \
        sqlite3.SQLITE_FULL


class StateDatabase:
    def __init__(self, state: StateDir, name: str, *, essential: bool, setup: Setup,
                 synchronous: str = "NORMAL", private: bool = False, threads: bool = False) -> None:
        self.state = state
        self.name = name
        self.path = state.path / name
        self.essential = essential
        self._synchronous = synchronous
        self._private = private
        self._same_thread = not threads  # threads=True: callers serialise access themselves
        self._steps: list[_Step] | None = None  # statements of the open `with db:` transaction
        self._memory: sqlite3.Connection | None = None
        self._quarantined: Path | None = None
        try:
            self._disk = self._open(setup)
        except sqlite3.DatabaseError as exc:
            if disk_full(exc) or (isinstance(exc, sqlite3.OperationalError) and not _corrupt(exc)):
                raise
            self._quarantined = state.quarantine(self.path, exc)
            self._disk = self._open(setup)
        state.register(self)
        if setup is not None:
            self.salvage()

    def salvage(self) -> None:
        """After a quarantine: copy the rows that can still be read into the tables of the fresh file (the
        owner calls this once it has created them when it did not pass a `setup`)."""
        kept, self._quarantined = self._quarantined, None
        if kept is not None:
            _salvage(kept, self._disk)

    def _open(self, setup: Setup) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=self._same_thread)
        try:
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check[0] if check else 'no answer'}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            if self._private:  # only the service user (and root) may read it, -wal and -shm included
                for part in (self.path, *(self.path.with_name(self.path.name + x) for x in ("-wal", "-shm"))):
                    if part.exists():
                        part.chmod(0o600)
            self._disk = db
            if setup is not None:
                setup(self)
        except BaseException:
            db.close()
            raise
        return db

    # --- state -------------------------------------------------------------------------------------
    @property
    def in_memory(self) -> bool:
        return self._memory is not None

    @property
    def _db(self) -> sqlite3.Connection:
        return self._memory if self._memory is not None else self._disk

    def close(self) -> None:
        if self._memory is not None:
            self.write_back()
        if self._memory is not None:
            log.error("%s: closing with changes that are only in memory (disk still full)", self.path)
            self._memory.close()
            self._memory = None
        self._disk.close()
        self.state.unregister(self)

    # --- the sqlite3.Connection subset the stores use ---------------------------------------------
    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._run("execute", sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        return self._run("executemany", sql, list(parameters))

    def executescript(self, script: str) -> sqlite3.Cursor:
        return self._run("executescript", script, None)

    def commit(self) -> None:
        """Statements outside `with db:` are committed as they run: nothing to do (sqlite3 API)."""

    def rollback(self) -> None:
        """Inside `with db:`: abandon the transaction (the block's end then commits nothing)."""
        if self._steps is not None:
            self._db.execute("ROLLBACK")
            self._steps = None

    def __enter__(self) -> StateDatabase:
        if self.state.degraded and not self.essential and self._memory is None:
            self._to_memory()  # non-essential records give way while space is short
        self._db.execute("BEGIN")
        self._steps = []
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._steps is None:  # rolled back inside the block
            return
        try:
            if kind is not None:
                self._db.execute("ROLLBACK")
            else:
                self._retrying(lambda: self._db.execute("COMMIT"))
        finally:
            self._steps = None

    def _run(self, method: str, sql: str, parameters: Any) -> sqlite3.Cursor:
        if self._steps is None and self.state.degraded and not self.essential and self._memory is None \
                and not _read_only(sql):
            self._to_memory()
        step = (method, sql, parameters)
        cursor = self._retrying(lambda: self._apply(self._db, step))
        if self._steps is not None:
            self._steps.append(step)
        return cursor

    @staticmethod
    def _apply(db: sqlite3.Connection, step: _Step) -> sqlite3.Cursor:
        method, sql, parameters = step
        if method == "executescript":
            return db.executescript(sql)
        if method == "executemany":
            return db.executemany(sql, parameters)
        return db.execute(sql, parameters)

    # --- disk full ---------------------------------------------------------------------------------
    def _retrying(self, attempt: Callable[[], _T]) -> _T:
        """Run `attempt`; while the disk is full, roll back, get space (or move into memory), replay the
        open transaction's statements and try again. In memory the disk cannot be full, so this ends."""
        try:
            return attempt()
        except sqlite3.OperationalError as error:
            if not disk_full(error) or self._memory is not None:
                raise
        while True:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")  # SQLite may have rolled back already
            if not (self.essential and self.state.release_reserve()):
                self._to_memory()
            try:
                if self._steps is not None:
                    self._db.execute("BEGIN")
                    for step in self._steps:
                        self._apply(self._db, step)
                return attempt()
            except sqlite3.OperationalError as error:
                if not disk_full(error) or self._memory is not None:
                    raise

    def _to_memory(self) -> None:
        memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=self._same_thread)
        self._disk.backup(memory)
        self._memory = memory
        log.error("%s: disk full, keeping %s records in memory until there is space again", self.path,
                  "essential" if self.essential else "non-essential")

    def write_back(self) -> bool:
        """Copy the in-memory content back to the file. True when the database is on disk again."""
        if self._memory is None:
            return True
        if self._steps is not None:
            return False  # never in the middle of a transaction
        try:
            self._memory.backup(self._disk)
        except sqlite3.OperationalError as error:
            if not disk_full(error):
                raise
            return False
        self._memory.close()
        self._memory = None
        log.warning("%s: space again, records written back to disk", self.path)
        return True


def _read_only(sql: str) -> bool:
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    return head in ("SELECT", "WITH") or (head == "PRAGMA" and "=" not in sql)


def _corrupt(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT) or code is None


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _salvage(broken: Path, fresh: sqlite3.Connection) -> None:
    """Copy the rows that can still be read from the quarantined file into the fresh one (same tables)."""
    try:
        old = sqlite3.connect(f"{broken.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return
    copied = 0
    try:
        tables = [r[0] for r in old.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [r[1] for r in fresh.execute(f"PRAGMA table_info({_quoted(table)})")]
            if not columns:
                continue
            names = ", ".join(_quoted(c) for c in columns)
            try:
                rows = old.execute(f"SELECT {names} FROM {_quoted(table)}").fetchall()
            except sqlite3.Error:
                continue
            marks = ", ".join("?" for _ in columns)
            fresh.executemany(f"INSERT OR IGNORE INTO {_quoted(table)} ({names}) VALUES ({marks})", rows)
            copied += len(rows)
    except sqlite3.Error:
        pass  # nothing more can be read (e.g. the header itself is garbage)
    finally:
        old.close()
    if copied:
        log.warning("rebuilt %d row(s) from the quarantined %s", copied, broken.name)
