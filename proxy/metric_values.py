"""Where the proxy's counters and histograms keep their numbers: in memory, or in a worker's file.

prometheus-client picks its value class once per process: ``MutexValue`` (a lock on every
update) or, with ``PROMETHEUS_MULTIPROC_DIR`` set, ``MmapedValue`` (a process-wide lock, an
``os.getpid()`` system call to notice a fork, a dict lookup of the key and two calls on every
update). The proxy's own metrics are updated only by the one event-loop thread of a process
that never forks (``--workers`` starts its workers as new programs), so they need neither.
"""

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict, mmap_key

ValueSource = Callable[[str, str, str, Sequence[str], Sequence[str], str], object]
"""What makes one value: called as prometheus-client calls its ``ValueClass``
(type, metric name, sample name, label names, label values, documentation)."""


class LoopValue:
    """prometheus-client's ``MutexValue`` without its mutex, for a single process.

    Every update of the proxy's metrics, and every scrape reading them, runs on the
    one event loop's thread, so the lock (taken on each update: a histogram's
    ``observe`` takes two) guards nothing there.
    """

    __slots__ = ("_exemplar", "_value")
    _multiprocess = False

    def __init__(self, *_params: object, **_settings: object) -> None:  # the library's value-class signature
        self._value = 0.0
        self._exemplar: object = None

    def inc(self, amount: float) -> None:
        self._value += amount

    def set(self, value: float, timestamp: float | None = None) -> None:
        self._value = value

    def set_exemplar(self, exemplar: object) -> None:
        self._exemplar = exemplar

    def get(self) -> float:
        return self._value

    def get_exemplar(self) -> object:
        return self._exemplar


class WorkerFile:
    """One of this worker's files: the ``MmapedDict`` that lays out its entries, and its doubles to write.

    An entry's value is an aligned double (``MmapedDict`` pads each key to 8 bytes), so an update is
    one 8-byte store through ``doubles`` (a float view of the map): no ``struct.pack``, no 16-byte
    slice assignment. ``MmapedDict`` maps its file anew when a new entry makes it grow; entries are
    added only through ``place`` (this file is no one else's), which takes the view of the new map.
    """

    __slots__ = ("doubles", "entries")

    def __init__(self, path: str) -> None:
        self.entries = MmapedDict(path)  # type: ignore[no-untyped-call]
        self.doubles = memoryview(self.entries._m).cast("d")

    def place(self, key: str) -> tuple[float, int]:
        """The entry of ``key`` (added when new, as ``MmapedValue`` does): its value and its index in ``doubles``."""
        value, _timestamp = self.entries.read_value(key)  # type: ignore[no-untyped-call]
        if self.doubles.obj is not self.entries._m:  # the file grew: mapped anew
            self.doubles = memoryview(self.entries._m).cast("d")
        return value, self.entries._positions[key] // 8


class FileValue:
    """One value in this worker's file: ``MmapedValue`` without its lock, its pid check and its key lookup.

    The entry's place in the file is found once; an update adds in memory and stores the
    value in the file, so a scrape by any worker (``MultiProcessCollector`` reads every
    file) sees it at once. The timestamp beside it stays 0.0, as ``MmapedValue.inc`` writes it.
    """

    __slots__ = ("_file", "_index", "_value")
    _multiprocess = True

    def __init__(self, file: WorkerFile, key: str) -> None:
        self._file = file
        self._value, self._index = file.place(key)

    def inc(self, amount: float) -> None:
        value = self._value = self._value + amount
        self._file.doubles[self._index] = value

    def set(self, value: float, timestamp: float | None = None) -> None:
        self._value = value
        doubles, index = self._file.doubles, self._index
        doubles[index], doubles[index + 1] = value, timestamp or 0.0

    def set_exemplar(self, exemplar: object) -> None:
        """Not kept, as with the library's multi-process values (the aggregate has no exemplars)."""

    def get(self) -> float:
        return self._value

    def get_exemplar(self) -> None:
        return None


class WorkerFiles:
    """This process's files in a ``--workers`` run's shared metrics directory, one per metric type.

    Each file is new and this object's alone (``MmapedDict`` tracks the used length in memory:
    two writers of one file would overwrite each other's entries), so the library's own
    file-backed values (the fleet metrics, the gauges) keep theirs. The aggregate reads a
    file's type from its name's first part and sums counters and histograms over all files.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._files: dict[str, WorkerFile] = {}

    def __call__(
        self,
        typ: str,
        metric_name: str,
        name: str,
        labelnames: Sequence[str],
        labelvalues: Sequence[str],
        help_text: str,
    ) -> FileValue:
        if typ == "gauge":  # a gauge's file name carries its multiprocess mode; the proxy's go to the library
            raise ValueError("WorkerFiles keeps counters and histograms only")
        file = self._files.get(typ)
        if file is None:
            file = self._files[typ] = self._open(typ)
        return FileValue(file, mmap_key(metric_name, name, labelnames, labelvalues, help_text))  # type: ignore[arg-type]

    def _open(self, typ: str) -> WorkerFile:
        handle, path = tempfile.mkstemp(prefix=f"{typ}_{os.getpid()}-", suffix=".db", dir=self._directory)
        os.close(handle)
        return WorkerFile(path)
