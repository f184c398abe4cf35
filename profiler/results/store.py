"""Crash-safe results store: one SQLite row per measurement, committed as it is measured.

A run directory holds ``results.sqlite`` (WAL journal: a committed row survives a SIGKILL of the writer at any
moment) and ``meta.json`` (environment, config). ``load_results`` turns a run directory, a CSV or a Parquet file
into the DataFrame that analysis, report and baseline read.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from profiler.core import paths
from profiler.core.errors import UsageError
from profiler.results import measurement
from profiler.results.measurement import Measurement

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1
DB_NAME = "results.sqlite"
META_NAME = paths.META_NAME
TABLE = "measurements"

# (column, SQLite type), in order, from the fields of ``profiler.results.measurement.Measurement`` (one definition).
COLUMNS: tuple[tuple[str, str], ...] = measurement.columns()
PHASE_COLUMNS = measurement.flagged("phase")  # == profiler.core.phases.PHASES (tests/core/test_facts.py binds them)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS)
# Nullable columns added after schema 1: a run written before them opens (they read as NULL) and gains them
# (ALTER TABLE) only when a row is written to it, e.g. on --resume. Measured values are never rewritten.
LATER_COLUMNS: frozenset[str] = frozenset(measurement.flagged("later"))
_JSON_COLUMNS = ("samples_ms",)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Readers never set the journal mode (a write): a run in a read-only directory must still be readable."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        # A WAL database in an unwritable directory cannot create its -shm file: read it as immutable (no
        # writer can be appending to a run whose directory nobody may write).
        return sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True, timeout=30.0)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)  # autocommit: each INSERT is durable
    conn.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL survives a crash of the writing process; FULL would add power-loss safety at fsync cost.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class ResultStore:
    """The measurements of one run directory."""

    def __init__(self, run_dir: Path, conn: sqlite3.Connection, missing: tuple[str, ...] = ()) -> None:
        self.run_dir = run_dir
        self._conn = conn
        self._missing = missing  # LATER_COLUMNS this older database lacks; added on the first write

    @classmethod
    def create(cls, run_dir: Path | str, meta: dict[str, Any]) -> ResultStore:
        """Create a new run directory (must not hold a run already) and write ``meta.json``."""
        run_dir = Path(run_dir)
        if (run_dir / DB_NAME).exists():
            raise UsageError(f"{run_dir} already holds a run; resume it or choose another run id")
        run_dir.mkdir(parents=True, exist_ok=True)
        conn = _connect(run_dir / DB_NAME)
        cols = ", ".join(f'"{name}" {sqltype}' for name, sqltype in COLUMNS)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({cols})")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        store = cls(run_dir, conn)
        store.write_meta({"schema_version": SCHEMA_VERSION, **meta})
        return store

    @classmethod
    def open(cls, run_dir: Path | str, read_only: bool = False) -> ResultStore:
        """Open an existing run directory; a foreign or corrupt one raises UsageError (not a traceback).
        ``read_only``: for readers (analysis, export): no pragma that writes, works in a read-only directory."""
        run_dir = Path(run_dir)
        db = run_dir / DB_NAME
        if not run_dir.is_dir():
            raise UsageError(f"{run_dir} is not a directory")
        if not db.is_file():
            inside = sorted(d.name for d in run_dir.iterdir() if (d / DB_NAME).is_file())
            hint = f"; the runs in it: {', '.join(inside)}" if inside else ""  # e.g. check --keep-run's side-A/B
            raise UsageError(f"{run_dir} is not an archprof run directory (no {DB_NAME}){hint}")
        try:
            conn = _connect_read_only(db) if read_only else _connect(db)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            have = {r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")}
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"{db} is corrupt or not an SQLite database: {exc}") from None
        if version != SCHEMA_VERSION or not have:
            raise UsageError(f"{db} is not an archprof results database (schema {version}, table {TABLE!r})")
        missing = [c for c in COLUMN_NAMES if c not in have]
        if set(missing) - LATER_COLUMNS:
            raise UsageError(f"{db} lacks columns {missing}; it was written by another version")
        return cls(run_dir, conn, tuple(missing))

    # --- metadata -------------------------------------------------------------------------------------
    def write_meta(self, meta: dict[str, Any]) -> None:
        """Write ``meta.json`` atomically (temp file + rename) so a kill never leaves half a file."""
        path = paths.meta_path(self.run_dir)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        tmp.replace(path)

    def read_meta(self) -> dict[str, Any]:
        """The whole ``meta.json`` ({} when absent), through its one reader (``results.meta.RunMeta``)."""
        from profiler.results.meta import RunMeta

        return RunMeta.read(self.run_dir).raw

    # --- rows -----------------------------------------------------------------------------------------
    def add(self, row: Measurement) -> None:
        """Insert (or replace, on a retried task) one measurement; committed before returning."""
        if not isinstance(row, Measurement):  # a dict here would skip the column check that from_dict makes
            raise TypeError(f"ResultStore.add takes a Measurement (Measurement.from_dict(...)), not {type(row).__name__}")
        if not row.task_key:
            raise ValueError("a result row needs a task_key")
        if self._missing:  # not on open: reading an older run (perhaps read-only) must not change it
            types = dict(COLUMNS)
            for name in self._missing:
                self._conn.execute(f'ALTER TABLE {TABLE} ADD COLUMN "{name}" {types[name]}')
            self._missing = ()
        values = row.to_dict()
        for k in _JSON_COLUMNS:
            if values[k] is not None and not isinstance(values[k], str):
                values[k] = json.dumps(values[k])
        if isinstance(values["stable"], bool):
            values["stable"] = int(values["stable"])
        names = ", ".join(f'"{k}"' for k in COLUMN_NAMES)
        marks = ", ".join("?" for _ in COLUMN_NAMES)
        self._conn.execute(f"INSERT OR REPLACE INTO {TABLE} ({names}) VALUES ({marks})", list(values.values()))

    def task_status(self) -> dict[str, str]:
        """``task_key -> status`` of every stored row."""
        return dict(self._conn.execute(f"SELECT task_key, status FROM {TABLE}").fetchall())

    def done_keys(self, include_failed: bool = True) -> set[str]:
        """Keys already measured (failed rows count as done unless ``include_failed`` is False)."""
        return {k for k, s in self.task_status().items() if include_failed or s == "ok"}

    def rows(self) -> list[dict[str, Any]]:
        cur = self._conn.execute(f"SELECT * FROM {TABLE} ORDER BY started_at, task_key")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def dataframe(self) -> pd.DataFrame:
        """All rows as a DataFrame, ``samples_ms`` parsed back into lists."""
        import pandas as pd

        df = pd.DataFrame(self.rows(), columns=list(COLUMN_NAMES))
        for k in _JSON_COLUMNS:
            df[k] = df[k].map(lambda s: json.loads(s) if isinstance(s, str) else None)
        df["stable"] = df["stable"].map(lambda v: None if pd.isna(v) else bool(v))
        return df

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resolve_run(arg: Path | str, results_dir: Path | str = "results") -> Path:
    """A path as given if it exists, else the run id ``arg`` under ``results_dir``; ``latest`` is the newest run."""
    path, root = Path(arg), Path(results_dir)
    if path.exists():
        return path
    if str(arg) == "latest":
        runs = [d for d in root.glob("*/") if (d / DB_NAME).is_file()] if root.is_dir() else []
        if not runs:
            raise UsageError(f"no runs under {root}/ yet; run `python -m profiler sweep` first")
        return max(runs, key=lambda d: (d / DB_NAME).stat().st_mtime)
    if (root / str(arg)).exists():
        return root / str(arg)
    return path


def load_results(path: Path | str) -> pd.DataFrame:
    """Results from a run directory (path, run id or ``latest``), a CSV or a Parquet file (docs/architecture.md)."""
    import pandas as pd

    path = resolve_run(path)
    if path.is_dir():
        with ResultStore.open(path, read_only=True) as store:
            try:
                return store.dataframe()
            except sqlite3.DatabaseError as exc:  # e.g. a damaged page past the header
                raise UsageError(f"{path / DB_NAME} is corrupt ({exc}); rows that can still be read may be "
                                 f"recovered with `sqlite3 {path / DB_NAME} .recover`") from None
    if not path.exists():
        raise UsageError(f"{path} does not exist (expected a run directory, a .csv or a .parquet file)")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):  # outside the try: a UsageError is a ValueError too
        raise UsageError(f"{path}: unknown format {suffix!r}; expected a run directory, .csv or .parquet")
    try:
        df = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if "samples_ms" in df.columns:
        df["samples_ms"] = df["samples_ms"].map(lambda s: json.loads(s) if isinstance(s, str) else s)
    return df


def export(run_dir: Path | str, fmt: str, out: Path | str | None = None) -> Path:
    """Write a run's rows as CSV or Parquet (``samples_ms`` kept as a JSON string); returns the path."""
    if fmt not in ("csv", "parquet"):
        raise UsageError(f"unknown export format {fmt!r}; valid: csv, parquet")
    run_dir = resolve_run(run_dir)
    df = load_results(run_dir)
    _fill_op_counts(df, run_dir)
    df["samples_ms"] = df["samples_ms"].map(lambda v: json.dumps(v) if v is not None else None)
    out = Path(out) if out else run_dir / f"results.{fmt}"
    try:
        if fmt == "csv":
            df.to_csv(out, index=False)
        else:
            df.to_parquet(out, index=False)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}; choose another file with -o FILE") from None
    return out



def _fill_op_counts(df, run_dir: Path) -> None:  # df: pandas.DataFrame, changed in place
    """Fill NULL ``ops``/``bytes``/``bytes_batch`` from the run's per-op tables (``counts/<spec>_r<res>.ops.json``).

    Runs recorded before these columns existed get them in exports where the tables were added
    (``python -m profiler.results.backfill``); counts are deterministic, so this adds no measurement. ``bytes_batch`` is
    the traffic at the row's batch and dtype (``counting.opclass``).
    """
    from profiler.counting.opclass import TRAFFIC_DTYPES, traffic_of_doc

    if "bytes_batch" not in df.columns:
        df["bytes_batch"] = None
    for i, row in df.iterrows():
        have_ops = row.get("ops") == row.get("ops") and row.get("ops") is not None  # present and not NaN
        have_b = row.get("bytes_batch") == row.get("bytes_batch") and row.get("bytes_batch") is not None
        if have_ops and have_b:
            continue
        path = paths.ops_path(run_dir, row["spec_hash"], row["resolution"])
        if path.is_file():
            doc = json.loads(path.read_text())
            if not have_ops:
                df.loc[i, "ops"], df.loc[i, "bytes"] = doc["ops"], doc["bytes"]
            if not have_b and row.get("dtype") in TRAFFIC_DTYPES and row.get("batch") == row.get("batch"):
                df.loc[i, "bytes_batch"] = traffic_of_doc(doc, int(row["batch"]), str(row["dtype"]))
    for col in ("ops", "bytes", "bytes_batch"):
        df[col] = df[col].astype("Int64")  # integers with NULLs, not floats
