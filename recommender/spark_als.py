"""ALS on Apache Spark: the ``--engine spark`` of ``nextpaper train``.

Owns every call into Spark (``pyspark``, an optional extra: ``pip install -e '.[spark]'``, with
Java 17 or later). :class:`SparkALS` is one SparkSession for one training run, reused by each
ALS fit of that run (the blend search's and the final one) and stopped at its end. A fit
exports the (n_users x n_papers) confidence matrix the hybrid hands to ALS as Parquet with
integer ids (``user``: the matrix row, ``paper``: its column, ``confidence``, and the
``rating`` Spark reads, :func:`spark_ratings`), writes the id maps beside it
(``user_ids.json``, ``paper_ids.json``: position -> id), runs Spark MLlib's
``ALS(implicitPrefs=True)`` on it, and reads the ``userFactors`` / ``itemFactors`` that Spark
writes back as Parquet into dense float32 arrays aligned to the integer ids (rows Spark did not
see, such as papers nobody has read, are zeros). :class:`~recommender.collaborative.ALSModel`
sets them as an ordinary ``implicit`` model's factors, so what is saved, loaded and served is
the same as after an ``implicit`` fit, and serving never imports pyspark.

Parameter mapping (implicit's ``AlternatingLeastSquares`` against Spark's ``ALS``), both solving
Hu, Koren & Volinsky's weighted least squares with preference p = 1 where r > 0:

* **confidence**: implicit multiplies the matrix by ``alpha`` and uses c = alpha * r as the
  confidence (its solver's ``C - I`` term is alpha * r - 1); Spark uses c = 1 + alpha_s * |r|.
  So this module gives Spark the rating r_s = alpha * r - 1 with alpha_s = 1, which makes
  Spark's confidence 1 + r_s = alpha * r: the same weights, entry by entry (an entry with
  alpha * r <= 1, which no event weight here gives, is floored at a tiny positive rating so that
  it stays a positive preference).
* **regularisation**: implicit adds lambda * I to each user's and each paper's system;
  Spark (ALS-WR) adds ``regParam`` * n * I, n being that user's (paper's) number of positive
  entries. No single ``regParam`` is implicit's lambda for every row: heavy readers and
  popular papers are regularised more, one-paper users and papers less.
  The hybrid's ``spark_reg_param`` (0.5) was chosen on movielens-100k so that the
  Spark-fitted hybrid's recall matches the implicit-fitted one's, and checked on citeulike-t
  (``bench/train_spark.py``; README, "Training on Apache Spark").
* **iterations**: Spark solves each least-squares system exactly (Cholesky); implicit takes
  three conjugate-gradient steps per system (15 iterations here); Spark's 10 did what 15 did.
* **warm start**: none. implicit can continue from the previous model's factors; Spark fits
  from its own random start every time.

Spark's own log (and the JVM's output) goes to ``spark.log`` in the run's work folder, which
is deleted with everything else there when the run ends: the Parquet files hold every
reader's history, and an erased history must not outlive the training that read it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

DEFAULT_MASTER = "local[*]"
DEFAULT_DRIVER_MEMORY = "1g"
MIN_JAVA = 17
MIN_RATING = 1e-6  # Spark's rating for an entry whose implicit confidence is <= 1
INTERACTIONS_FILE = "interactions.parquet"
USER_IDS_FILE = "user_ids.json"
PAPER_IDS_FILE = "paper_ids.json"
LOG_FILE = "spark.log"
_LOG4J = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


class SparkError(RuntimeError):
    """Spark could not train (the message is one line)."""


class SparkUnavailable(SparkError):
    """pyspark is not installed, Java 17+ is not found, or Spark did not start."""


def find_java() -> str | None:
    """The ``java`` Spark will run: ``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else the
    one on PATH (as Spark's own launcher chooses); None when there is none."""
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        return str(java) if os.access(java, os.X_OK) else None
    return shutil.which("java")


def java_version(java: str) -> int | None:
    """The major version of ``java`` (17 for "17.0.15", 8 for "1.8.0"), None if unreadable."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def check_available() -> None:
    """Raise :class:`SparkUnavailable` (one line saying what to install) unless pyspark can be
    imported and Java 17 or later is found."""
    try:
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as error:
        raise SparkUnavailable(
            f"--engine spark needs the spark extra ({error.name} is not installed): "
            "pip install 'nextpaper[spark]'"
        ) from None
    java = find_java()
    if java is None:
        where = "in JAVA_HOME" if os.environ.get("JAVA_HOME") else "on PATH (nor JAVA_HOME set)"
        raise SparkUnavailable(
            f"--engine spark needs Java {MIN_JAVA} or later: no java {where}; "
            f"install one (e.g. openjdk-{MIN_JAVA}-jre-headless)"
        )
    version = java_version(java)
    if version is None or version < MIN_JAVA:
        found = "an unreadable version" if version is None else f"Java {version}"
        raise SparkUnavailable(f"--engine spark needs Java {MIN_JAVA} or later; {java} is {found}")


def spark_ratings(confidence: np.ndarray, alpha: float) -> np.ndarray:
    """Spark's ratings for implicit's confidences r (> 0) and ``alpha``: alpha * r - 1 (at least
    :data:`MIN_RATING`), so that Spark's confidence 1 + 1 * rating is implicit's alpha * r."""
    rating = float(alpha) * np.asarray(confidence, np.float64) - 1.0
    return np.maximum(rating, MIN_RATING).astype(np.float32)


def _is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def _one_line(text: str, limit: int = 300) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    line = lines[0] if lines else "no message"
    return line if len(line) <= limit else line[: limit - 3] + "..."


class SparkALS:
    """One SparkSession for a training run; :meth:`fit` factorises a confidence matrix on it.

    Parameters
    ----------
    master : Spark master URL (default ``local[*]``: every core of this machine, in this
        process's JVM); ``spark://host:7077``, ``yarn``, ``k8s://...`` for a cluster.
    driver_memory : ``spark.driver.memory`` ("1g"); in local mode the fits run in the driver.
    work_dir : folder for the Parquet files, the id maps and Spark's log (a run folder is made
        in it and deleted by :meth:`stop`); default a temporary folder. On a cluster every
        executor reads and writes it at the same path: a shared mount.
    conf : further Spark settings (``spark.*`` keys), applied last.

    The session starts at the first :meth:`fit` (a run that fits no ALS starts no JVM). When a
    SparkSession is already active in this process, it is used and left running.
    """

    def __init__(
        self,
        master: str | None = None,
        driver_memory: str | None = None,
        work_dir: str | Path | None = None,
        conf: dict[str, str] | None = None,
    ) -> None:
        self.master = master or DEFAULT_MASTER
        self.driver_memory = driver_memory or DEFAULT_DRIVER_MEMORY
        self.conf = dict(conf or {})
        self._parent = Path(work_dir) if work_dir is not None else None
        self._own_parent = False
        self.folder: Path | None = None  # this run's work folder
        self.session: Any = None
        self._owned = False
        self._fits = 0
        self.start_seconds = 0.0
        self.last_model: Any = None  # Spark's ALSModel of the last fit (until the next, or stop)

    # ------------------------------------------------------------- session
    def __enter__(self) -> SparkALS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_folder(self) -> Path:
        if self.folder is None:
            if self._parent is None:
                self._parent = Path(tempfile.mkdtemp(prefix="nextpaper-spark-"))
                self._own_parent = True
            self._parent.mkdir(parents=True, exist_ok=True)
            self.folder = Path(
                tempfile.mkdtemp(prefix=f"run-{time.strftime('%Y%m%d-%H%M%S')}-", dir=self._parent)
            ).resolve()
        return self.folder

    def start(self) -> Any:
        """The SparkSession (started now if need be)."""
        if self.session is not None:
            return self.session
        check_available()
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            self.session, self._owned = active, False
            return active
        started = time.perf_counter()
        folder = self._run_folder()
        log4j = folder / "log4j2.properties"
        log4j.write_text(_LOG4J, encoding="utf-8")
        settings = {
            "spark.app.name": "nextpaper-als",
            "spark.driver.memory": self.driver_memory,
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={log4j.as_uri()}",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": "8",
        }
        if _is_local(self.master):
            (folder / "spark-tmp").mkdir(exist_ok=True)
            settings.update(
                {
                    "spark.driver.host": "127.0.0.1",
                    "spark.driver.bindAddress": "127.0.0.1",
                    "spark.local.dir": str(folder / "spark-tmp"),
                }
            )
        settings.update(self.conf)
        self.session = self._launch(settings)
        self._owned = True
        self.start_seconds = time.perf_counter() - started
        return self.session

    def _launch(self, settings: dict[str, str]) -> Any:
        """A SparkSession whose JVM writes its output to ``spark.log`` in the run folder."""
        from pyspark import SparkConf, SparkContext
        from pyspark.java_gateway import launch_gateway
        from pyspark.sql import SparkSession

        conf = SparkConf().setMaster(self.master).setAll(list(settings.items()))
        log_path = self.folder / LOG_FILE
        gateway = None
        try:
            with open(log_path, "ab") as log:
                gateway = launch_gateway(
                    conf, popen_kwargs={"stdout": log, "stderr": subprocess.STDOUT}
                )
            context = SparkContext(conf=conf, gateway=gateway)
            context.setLogLevel("ERROR")
            return SparkSession(context)
        except Exception as error:
            if gateway is not None:
                _shut_gateway(gateway)
            _forget_gateway()
            said = _log_reason(log_path) or _one_line(error)
            raise SparkUnavailable(f"Spark did not start (master {self.master}): {said}") from None

    def stop(self) -> None:
        """Stop the session (if this object started it), end its JVM, delete the run folder."""
        session, self.session = self.session, None
        self.last_model = None
        if session is not None and self._owned:
            from pyspark import SparkContext

            gateway = SparkContext._gateway
            try:
                session.stop()
            finally:
                if gateway is not None:
                    _shut_gateway(gateway)
                _forget_gateway()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        if self._own_parent and self._parent is not None:
            shutil.rmtree(self._parent, ignore_errors=True)
            self._parent, self._own_parent = None, False

    # ----------------------------------------------------------------- fit
    def fit(
        self,
        user_items: sp.csr_matrix,
        *,
        factors: int,
        reg_param: float,
        alpha: float,
        iterations: int,
        seed: int = 0,
        user_ids: list[str] | None = None,
        paper_ids: list[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Factorise ``user_items`` (n_users x n_papers, implicit's confidences r) with Spark.

        ``alpha`` is implicit's (confidence alpha * r, see the module docstring), ``reg_param``
        Spark's ``regParam`` (scaled by each row's count). ``user_ids`` / ``paper_ids`` (the
        rows' and columns' ids) are written beside the Parquet file. Returns (user factors,
        item factors), float32 of shapes (n_users, factors) and (n_papers, factors), zero rows
        for users and papers without a positive entry.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        x = sp.csr_matrix(user_items, dtype=np.float32)
        n_users, n_papers = x.shape
        users = np.zeros((n_users, factors), np.float32)
        items = np.zeros((n_papers, factors), np.float32)
        rows = np.repeat(np.arange(n_users, dtype=np.int32), np.diff(x.indptr))
        keep = x.data > 0
        if not keep.any():
            return users, items
        session = self.start()
        self._fits += 1
        folder = self._run_folder() / f"fit-{self._fits}"
        folder.mkdir()
        table = pa.table(
            {
                "user": pa.array(rows[keep], pa.int32()),
                "paper": pa.array(x.indices[keep].astype(np.int32), pa.int32()),
                "confidence": pa.array(x.data[keep], pa.float32()),
                "rating": pa.array(spark_ratings(x.data[keep], alpha), pa.float32()),
            }
        )
        pq.write_table(table, folder / INTERACTIONS_FILE)
        for name, ids in ((USER_IDS_FILE, user_ids), (PAPER_IDS_FILE, paper_ids)):
            if ids is not None:
                (folder / name).write_text(json.dumps(list(ids)), encoding="utf-8")
        self.last_model = None
        try:
            self.last_model = self._fit_on_spark(
                session, folder, factors, reg_param, iterations, seed
            )
        except Exception as error:
            raise SparkError(f"Spark's ALS failed: {_one_line(error)}") from error
        for out, name in ((users, "user_factors"), (items, "item_factors")):
            table = pq.read_table(folder / name, columns=["id", "features"])
            ids = table.column("id").to_numpy()
            flat = table.column("features").combine_chunks().flatten()
            out[ids] = np.asarray(flat.to_numpy(zero_copy_only=False), np.float32).reshape(
                ids.size, factors
            )
        return users, items

    def _fit_on_spark(
        self,
        session: Any,
        folder: Path,
        factors: int,
        reg_param: float,
        iterations: int,
        seed: int,
    ) -> Any:
        from pyspark.ml.recommendation import ALS

        frame = session.read.parquet((folder / INTERACTIONS_FILE).as_uri())
        blocks = max(1, int(session.sparkContext.defaultParallelism))
        model = ALS(
            rank=int(factors),
            maxIter=int(iterations),
            regParam=float(reg_param),
            alpha=1.0,  # Spark's confidence 1 + 1 * rating, rating = alpha * r - 1 (spark_ratings)
            implicitPrefs=True,
            nonnegative=False,
            userCol="user",
            itemCol="paper",
            ratingCol="rating",
            numUserBlocks=blocks,
            numItemBlocks=blocks,
            seed=int(seed),
        ).fit(frame)
        model.userFactors.write.parquet((folder / "user_factors").as_uri())
        model.itemFactors.write.parquet((folder / "item_factors").as_uri())
        return model


def _shut_gateway(gateway: Any) -> None:
    """End the py4j gateway and its JVM (it exits when its standard input closes)."""
    try:
        gateway.shutdown()
    except Exception:  # the JVM may be gone already
        pass
    proc = getattr(gateway, "proc", None)
    if proc is not None:
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=10)


def _forget_gateway() -> None:
    """Make the next SparkSession of this process launch a JVM of its own (pyspark keeps the
    first gateway for the life of the process otherwise)."""
    from pyspark import SparkContext

    SparkContext._gateway = None
    SparkContext._jvm = None
    SparkContext._active_spark_context = None


def _log_reason(path: Path) -> str | None:
    """The most telling line of a failed start in Spark's log: its first ERROR (with the
    exception on the next line, if any), else its first exception or error."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for i, line in enumerate(lines):
        logged = re.match(r"\S+ ERROR \S+: (.*)", line)
        if logged:
            said = logged.group(1)
            after = lines[i + 1] if i + 1 < len(lines) else ""
            if re.match(r"[\w.$]+(Exception|Error): ", after):
                said = f"{said} {after}"
            return _one_line(said)
    for line in lines:
        if re.search(r"Exception|Error", line) and " WARN " not in line:
            return _one_line(line.removeprefix('Exception in thread "main" '))
    return None
