"""The one copy: push, pull and promote all move a revision from one store to another.

Walks the manifest, moves only the blobs the destination lacks (mounting where it can, in
parallel up to `jobs`), then stores the manifest and only then the tags.

Interrupts and failures: blobs move on daemon worker threads that check a stop flag between
chunks. SIGINT (KeyboardInterrupt), SIGTERM (turned into one by the CLI) or the first error
that retries cannot mend sets the flag; the other blobs stop at their next chunk, the caller
gets its answer within about a second, and whatever is complete or resumable stays for the
re-run. A transient failure of one blob is retried from where it stopped: the destination says
how much it holds (a partial file, an upload session) and the source is read from there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Interrupted, TransientError
from ..units import format_size
from .network import NetworkPolicy
from .oci import Descriptor, Manifest
from .progress import TransferProgress
from .stores.base import CHUNK_GRACE_S, ChunkStream, Mounter, Source, SpaceAware, Stopped, Target
from .stores.files import no_space

STOP_GRACE_S = CHUNK_GRACE_S + 0.2  # how long the main thread waits for the workers after a stop


@dataclass
class CopyResult:
    digest: str
    bytes_total: int  # every blob of the revision
    bytes_moved: int  # what actually travelled
    blobs_moved: int
    blobs_present: int
    blobs_mounted: int
    subject_indexed: bool = False  # the destination indexed the manifest's subject itself


@dataclass
class _Transfer:
    """The shared state of one copy's workers."""

    queue: list[Descriptor]
    offsets: dict[str, int]  # what the destination held when the copy was planned, by digest
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    errors: list[BaseException] = field(default_factory=list)
    moved: int = 0
    done: int = 0
    running: int = 0  # workers that have not returned yet
    all_returned: threading.Event = field(default_factory=threading.Event)

    def returned(self) -> None:
        with self.lock:
            self.running -= 1
            if self.running == 0:
                self.all_returned.set()

    def wait_workers(self, timeout: float) -> bool:
        """Whether every worker has returned, waiting up to `timeout`. Not Thread.join: before
        Python 3.12, a join that Ctrl-C interrupts marks the running thread as finished
        (python/cpython#90882), so the stop would not wait for an in-flight upload chunk and
        its acknowledged offset would never reach the session file: the re-run would find the
        session stale and send the whole blob again."""
        return self.all_returned.wait(timeout)

    def next(self) -> Descriptor | None:
        with self.lock:
            if self.stop.is_set() or not self.queue:
                return None
            return self.queue.pop(0)

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            self.errors.append(exc)
        self.stop.set()


def copy(
    source: Source,
    manifest: Manifest,
    destination: Target,
    tags: Sequence[str] = (),
    *,
    jobs: int = 4,
    progress: TransferProgress | None = None,
    before_tags: Callable[[], None] | None = None,  # runs once the manifest is in, before any tag
    move_tags: bool = True,
    network: NetworkPolicy | None = None,
) -> CopyResult:
    progress = progress or TransferProgress()
    network = network or NetworkPolicy()
    unique: dict[str, Descriptor] = {}
    for desc in manifest.blobs:
        unique.setdefault(desc.digest, desc)
    blobs = list(unique.values())
    present = [d for d in blobs if destination.has_blob(d)]
    missing = [d for d in blobs if d not in present]
    # Mounting is a capability some targets have (oras-go's Mounter): asked of the role, not the class.
    mounted = [d for d in missing if isinstance(destination, Mounter) and destination.mount_blob(d, source)]
    to_move = [d for d in missing if d not in mounted]
    offsets = {d.digest: destination.resume_offset(d) for d in to_move}
    remaining = sum(d.size - offsets[d.digest] for d in to_move)
    if isinstance(destination, SpaceAware) and remaining > destination.free_bytes():
        raise no_space(Path(destination.location), remaining)
    progress.plan(remaining)
    # Largest first: keeps every worker busy until the end instead of waiting on one big tail.
    transfer = _Transfer(sorted(to_move, key=lambda d: d.size, reverse=True), offsets)
    _run(transfer, source, destination, progress, network, jobs)
    if before_tags is not None:
        # The manifest goes in by digest first, so what before_tags attaches (a report) has
        # its subject in place; the tags follow.
        indexed = destination.push_manifest(manifest)
        before_tags()
        if tags:
            destination.push_manifest(manifest, tags, move_tags=move_tags)
    else:
        indexed = destination.push_manifest(manifest, tags, move_tags=move_tags)
    return CopyResult(
        digest=manifest.digest,
        bytes_total=sum(d.size for d in blobs),
        bytes_moved=transfer.moved,
        blobs_moved=len(to_move),
        blobs_present=len(present),
        blobs_mounted=len(mounted),
        subject_indexed=indexed,
    )


def _run(transfer: _Transfer, source: Source, destination: Target, progress: TransferProgress,
         network: NetworkPolicy, jobs: int) -> None:
    total = len(transfer.queue)
    if not total:
        return

    def advance(n: int) -> None:
        with transfer.lock:
            transfer.moved += n
        progress.advance(n)

    def move(desc: Descriptor) -> None:
        def once() -> None:
            # The plan just asked (a registry answers over the network); a retry asks again.
            with transfer.lock:
                offset = transfer.offsets.pop(desc.digest, None)
            if offset is None:
                offset = destination.resume_offset(desc)
            if offset >= desc.size:
                # Every byte is already there (a run killed before its last step): verify and finish.
                destination.push_blob(desc, iter(()), advance)
                return
            with source.open_blob(desc, offset) as chunks:
                destination.push_blob(desc, ChunkStream(chunks, transfer.stop), advance)

        network.call(f"the transfer of {desc.digest[:19]}", once, transfer.stop)

    def work() -> None:
        while (desc := transfer.next()) is not None:
            try:
                move(desc)
            except Stopped:
                return
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
                transfer.fail(exc)
                return
            with transfer.lock:
                transfer.done += 1

    def worker() -> None:
        try:
            work()
        finally:
            transfer.returned()

    threads = [threading.Thread(target=worker, name=f"pais-copy-{i}", daemon=True) for i in range(min(jobs, total) or 1)]
    transfer.running = len(threads)  # before any starts
    for t in threads:
        t.start()
    try:
        while not transfer.wait_workers(0.5):  # a lock wait: SIGINT and SIGTERM still get through
            pass
    except KeyboardInterrupt:
        _stop(transfer)
        raise Interrupted(
            f"interrupted: {transfer.done} of {total} files complete, {format_size(transfer.moved)} moved; "
            "partial files and upload sessions are kept",
            "run the same command again to resume: only what is missing travels") from None
    if transfer.errors:
        _stop(transfer)
        first = transfer.errors[0]
        if isinstance(first, TransientError):
            first.hint = (first.hint or "") + "; what arrived is kept: the same command resumes"
        raise first


def _stop(transfer: _Transfer) -> None:
    """Stop the workers at their next chunk and give in-flight chunks a moment to land."""
    transfer.stop.set()
    transfer.wait_workers(STOP_GRACE_S)
