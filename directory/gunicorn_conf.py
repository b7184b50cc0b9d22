"""gunicorn settings for serving the directory: ``gunicorn -c python:directory.gunicorn_conf
'directory:create_app()'`` (workers and bind address from the command line as usual).

The app is imported once in the master (``preload_app``) and each worker is forked from it.
Before every fork the master moves its objects to the garbage collector's permanent
generation (``gc.freeze``): a collection in a worker then never writes to those objects'
headers, so the pages stay shared instead of being copied into every worker
(bench: PSS of master + 2 workers at 100k centers, see bench/RESULTS.md).

Background jobs (web imports): when the server is ready, the master starts one job consumer
process, ``flask --app directory jobs`` with the same environment, and stops it when the
server exits (the consumer also stops by itself if the master dies). Web workers only queue
jobs, so a worker restart (timeout, ``max_requests``) never interrupts an import. Set
``JOBS_CONSUMER=external`` to run the consumers yourself instead (``flask jobs``, e.g. on
other machines sharing ``REDIS_URL``).
"""

import gc
import os
import signal
import subprocess
import sys

preload_app = True
_consumer = []  # the job consumer process started by when_ready


def pre_fork(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    gc.freeze()


def when_ready(server):
    if os.environ.get("JOBS_CONSUMER") == "external":
        server.log.info("JOBS_CONSUMER=external: no job consumer started here")
        return
    env = {**os.environ, "JOBS_CONSUMER": "external"}
    _consumer.append(subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "directory", "jobs", "--watch-parent"],
        env=env))
    server.log.info("Started the job consumer (pid %s)", _consumer[0].pid)


def on_exit(server):  # noqa: ARG001 - gunicorn's hook signature
    for process in _consumer:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # finish the running job, then stop
            try:
                process.wait(timeout=int(os.environ.get("JOBS_SHUTDOWN_SECONDS", "120")))
            except subprocess.TimeoutExpired:
                process.kill()
