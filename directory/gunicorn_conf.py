"""gunicorn settings for serving the directory: ``gunicorn -c python:directory.gunicorn_conf
'directory:create_app()'`` (workers and bind address from the command line as usual).

The app is imported once in the master (``preload_app``) and each worker is forked from it.
Before every fork the master moves its objects to the garbage collector's permanent
generation (``gc.freeze``): a collection in a worker then never writes to those objects'
headers, so the pages stay shared instead of being copied into every worker
(bench: PSS of master + 2 workers at 100k centers, see bench/RESULTS.md).
"""

import gc

preload_app = True


def pre_fork(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    gc.freeze()
