"""Background jobs: the queue (huey) and who consumes it.

Long work of the web (an import's preview and its confirm) runs as a job of a huey queue,
so no web worker waits for it and a worker restart loses nothing: the queue lives in its
storage, the job's lasting state in the database (:class:`~directory.models.ImportJob`).

The queue's storage, from the configuration:

- ``REDIS_URL`` set (``redis://host:6379/0``): Redis (``RedisHuey``); every app process on
  every machine shares it.
- otherwise: a SQLite file, ``instance/jobs.sqlite`` (``SqliteHuey``); nothing to install
  or start, one machine.
- ``JOBS_IMMEDIATE`` (default on under ``TESTING``): each job runs inside the request that
  enqueues it (huey's immediate mode, in memory); for tests.

Who runs the jobs (``JOBS_CONSUMER``):

- ``thread``: a consumer thread inside the serving process, started with its first request;
  the default of ``flask run`` (``make run``), so development needs no second process.
- ``external`` (any other command, e.g. gunicorn's workers): consumers run as
  ``flask --app directory jobs`` processes. ``directory.gunicorn_conf`` starts one beside
  its workers (set ``JOBS_CONSUMER=external`` to run them yourself, e.g. on other
  machines sharing ``REDIS_URL``).
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask, current_app

QUEUE_FILE = "jobs.sqlite"
log = logging.getLogger(__name__)


class Jobs:
    """The queue of one app: its huey instance (made in each process that uses it, as
    storage connections must not cross a fork) and the tasks registered on it."""

    def __init__(self, app: Flask):
        self.app = app
        self._huey = None
        self._pid = None
        self._lock = threading.RLock()  # start_thread_consumer -> huey
        self.tasks = {}
        self.consumer = None

    @property
    def huey(self):
        """This process's huey instance (made on first use)."""
        if self._huey is None or self._pid != os.getpid():
            with self._lock:
                if self._huey is None or self._pid != os.getpid():
                    self._huey = self._make()
                    self._pid = os.getpid()
        return self._huey

    def _make(self):
        from huey import RedisHuey, SqliteHuey

        config = self.app.config
        name = config["JOBS_QUEUE_NAME"]
        immediate = bool(config["JOBS_IMMEDIATE"])
        if config.get("REDIS_URL"):
            huey = RedisHuey(name, url=config["REDIS_URL"], immediate=immediate,
                             results=False)
        else:
            path = config.get("JOBS_SQLITE_PATH") or os.path.join(self.app.instance_path,
                                                                   QUEUE_FILE)
            huey = SqliteHuey(name, filename=path, immediate=immediate, results=False)
        from directory.jobs.imports import run_import_job

        app = self.app
        self.tasks = {"import": huey.task(name="import_job")(
            lambda job_id: run_import_job(app, job_id))}
        return huey

    def enqueue(self, task: str, *args) -> None:
        """Queue ``task`` (a name of :attr:`tasks`) with ``args`` (plain values). Starts
        the in-process consumer first in ``thread`` mode."""
        huey = self.huey
        if self.app.config["JOBS_CONSUMER"] == "thread" and not huey.immediate:
            self.start_thread_consumer()
        self.tasks[task](*args)

    def start_thread_consumer(self) -> None:
        """Start a consumer (``JOBS_WORKERS`` threads) inside this process, once."""
        with self._lock:
            if self.consumer is not None and self.consumer[1] == os.getpid():
                return
            consumer = make_consumer(self.huey, self.app.config["JOBS_WORKERS"], threaded=True)
            consumer.start()
            self.consumer = (consumer, os.getpid())
        from directory.jobs.imports import requeue_interrupted

        requeue_interrupted(self.app)


def make_consumer(huey, workers: int, *, threaded: bool = False):
    """A huey consumer of ``huey`` with ``workers`` threads. ``threaded``: it runs inside
    a process that has its own work (the dev server): no signal handlers, no periodic
    scheduler of its own."""
    from huey.consumer import Consumer

    class EmbeddedConsumer(Consumer):
        def _set_signal_handlers(self):  # the host process keeps its own signals
            pass

    cls = EmbeddedConsumer if threaded else Consumer
    return cls(huey, workers=workers, worker_type="thread", periodic=False,
               initial_delay=0.2, max_delay=2.0, check_worker_health=not threaded)


def init_app(app: Flask) -> None:
    """Attach the queue to ``app`` (``app.extensions["jobs"]``); in ``thread`` mode, the
    consumer starts with the first request."""
    app.config.setdefault("JOBS_IMMEDIATE", app.testing)
    app.config.setdefault("JOBS_QUEUE_NAME", "directory-jobs")
    app.config.setdefault("JOBS_WORKERS", 1)
    app.config.setdefault("JOBS_CONSUMER", "external")
    jobs = Jobs(app)
    app.extensions["jobs"] = jobs
    if app.config["JOBS_CONSUMER"] == "thread" and not app.config["JOBS_IMMEDIATE"]:
        @app.before_request
        def _start_consumer():
            if jobs.consumer is None or jobs.consumer[1] != os.getpid():
                jobs.start_thread_consumer()


def get_jobs() -> Jobs:
    """The current app's :class:`Jobs`."""
    return current_app.extensions["jobs"]


def consume(app: Flask, workers: int, *, watch_parent: bool = False, echo=print) -> None:
    """Run a consumer of ``app``'s queue in this process until SIGINT/SIGTERM (the
    ``flask jobs`` command). Jobs a stopped consumer left running are queued again first.
    ``watch_parent``: stop (gracefully) when the parent process exits (a consumer started
    by gunicorn's master)."""
    import signal
    import time

    from directory.jobs.imports import requeue_interrupted

    jobs = app.extensions["jobs"]
    if app.config["JOBS_IMMEDIATE"]:
        raise RuntimeError("JOBS_IMMEDIATE is on: jobs run where they are queued; there is "
                           "nothing to consume")
    where = app.config.get("REDIS_URL") or jobs.huey.storage.filename
    echo(f"Job consumer: {workers} worker(s) on queue {app.config['JOBS_QUEUE_NAME']!r} "
         f"({'Redis' if app.config.get('REDIS_URL') else 'SQLite'}: {_redact(where)})")
    again = requeue_interrupted(app)
    if again:
        echo(f"Queued again {again} job(s) interrupted when a consumer stopped.")
    if watch_parent:
        parent = os.getppid()

        def _watch():
            while os.getppid() == parent:
                time.sleep(2)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=_watch, daemon=True, name="parent watch").start()
    make_consumer(jobs.huey, workers).run()


def _redact(url: str) -> str:
    """``url`` without a password (``redis://:secret@host`` -> ``redis://:***@host``)."""
    import re

    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", str(url))
