"""Pausing Python's cyclic garbage collector around a long batch job (no Flask).

A seed or a gazetteer build allocates millions of objects that live until the job ends
(rows, ORM objects, folded names). Each time the allocations pass the collector's
threshold it walks every tracked object of the process, so its cost grows with the heap:
about a third of ``flask seed`` was spent there. Reference counting still frees everything
that is not in a reference cycle; the cycles made inside the block are freed by one
collection when it ends.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector inside the block (process-wide: for command-line
    jobs, not web workers' requests), then collect once and restore its previous state.
    Nested blocks are fine: only the outermost one re-enables the collector."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect()
