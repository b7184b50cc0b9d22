"""A forked helper that looks up a large file's cities while the rows are validated (the
command line only; see :class:`CityPrefetch`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from directory.importer.validate import CenterRecord


class CityPrefetch:
    """Looks up the cities of a large file in a second process (fork) while this one
    validates the rows: the offline gazetteer's ``lookup_city`` is a third of the work of a
    large import and the machine usually has a spare CPU. The answers only fill the
    :class:`MemoGeocoder` cache, keyed as the lookups made afterwards; a key the helper
    could not answer (or a helper that failed) is looked up here as before. The helper
    exits when this process goes away (even killed), and :meth:`close` stops it."""

    EVERY = 2000       # rows validated between two batches of cities sent
    MIN_ROWS = 2000    # smaller files: not worth a process

    def __init__(self, path: str):
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.keys = context.Queue()
        self.reader, writer = context.Pipe(duplex=False)
        self.process = context.Process(target=_prefetch_cities, daemon=True,
                                       args=(path, self.keys, self.reader, writer))
        self.process.start()
        writer.close()  # the helper holds the only writing end: EOF here if it dies
        self.sent: dict[tuple, None] = {}  # the keys sent, in order (the answers' order)
        self.done = 0

    @classmethod
    def start(cls, geocoder, rows: int) -> CityPrefetch | None:
        import multiprocessing
        import os

        from directory.geo import OfflineGeocoder

        if type(geocoder) is not OfflineGeocoder or rows < cls.MIN_ROWS or \
                (os.cpu_count() or 1) < 2 or \
                "fork" not in multiprocessing.get_all_start_methods():
            return None
        try:
            return cls(geocoder.path)
        except OSError:
            return None

    def send(self, records: list[CenterRecord]) -> None:
        """Queue the cities of ``records[self.done:]`` not sent yet."""
        batch = []
        for record in records[self.done:]:
            key = (record.city, record.region, record.country)
            if record.city and key not in self.sent:
                self.sent[key] = None
                batch.append(key)
        self.done = len(records)
        if batch:
            self.keys.put(batch)

    def results(self) -> Iterator[tuple[tuple, tuple | None]]:
        """``(key, (name, latitude, longitude) or None)`` for every key answered (none if
        the helper failed), one pair at a time (the keys are the tuples sent)."""
        self.keys.put(None)
        try:
            flags, names, latitudes, longitudes = self.reader.recv()
        except (EOFError, OSError):  # the helper died without answering
            flags, names, latitudes, longitudes = b"", [], [], []
        self.close()
        sent, self.sent = self.sent, {}
        return _answers(sent, flags, zip(names, latitudes, longitudes))

    def close(self) -> None:
        """Stop the helper (it has answered, or its answers are not wanted any more) and
        release the pipes. Idempotent."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.reader.close()
        self.keys.close()
        self.keys.cancel_join_thread()


def _answers(keys: Iterable[tuple], flags: bytes,
             places: Iterator[tuple]) -> Iterator[tuple[tuple, tuple | None]]:
    """Pair the keys sent to :func:`_prefetch_cities` with its answers (see there)."""
    for key, flag in zip(keys, flags):
        if flag == _PLACE:
            yield key, next(places)
        elif flag == _NO_PLACE:
            yield key, None


# What _prefetch_cities says of each key, in the order received.
_UNANSWERED, _NO_PLACE, _PLACE = 0, 1, 2


def _prefetch_cities(path: str, keys, reader, writer) -> None:
    """The helper process: ``lookup_city`` for each batch of keys received until ``None``,
    then all answers at once through ``writer``, compactly: ``(flags, names, latitudes,
    longitudes)``, one flag byte per key received (in order: :data:`_PLACE` when it names a
    place, whose name and coordinates are the next ones of the three lists, else
    :data:`_NO_PLACE` or :data:`_UNANSWERED`); all empty if the helper failed."""
    import array
    import os
    import queue

    from directory.geo import OfflineGeocoder

    reader.close()  # the parent's end, inherited: without it a dead parent is not noticed
    parent = os.getppid()
    flags, names = bytearray(), []
    latitudes, longitudes = array.array("d"), array.array("d")
    try:
        geocoder = OfflineGeocoder(path, build_if_missing=False)
        while True:
            try:
                batch = keys.get(timeout=1)
            except queue.Empty:
                if os.getppid() != parent:
                    return  # the importer is gone
                continue
            if batch is None:
                break
            for city, region, country in batch:
                try:
                    resolution = geocoder.lookup_city(city, region=region, country=country)
                except Exception:  # noqa: BLE001 - the importer repeats it and reports
                    flags.append(_UNANSWERED)
                    continue
                place = resolution.place if resolution else None
                if place is None:
                    flags.append(_NO_PLACE)
                else:
                    flags.append(_PLACE)
                    names.append(place.name)
                    latitudes.append(place.latitude)
                    longitudes.append(place.longitude)
    except Exception:  # noqa: BLE001 - the importer looks everything up itself
        flags, names = bytearray(), []
        latitudes, longitudes = array.array("d"), array.array("d")
    try:
        writer.send((bytes(flags), names, latitudes, longitudes))
    except OSError:  # the importer is gone
        pass
