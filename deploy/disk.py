"""What the file system under a directory is: its type, and whether an ext3/ext4 keeps a journal.

Without a journal, ext4 passes over the inodes freed in the last minute or so each time it allocates
one, and ClickHouse creates and frees thousands a minute (a part is a dozen files, and small parts
are merged away soon after). On such a disk a third of the sink's CPU went to that search (perf;
bench/HISTORY.md), so the worker says so when its chDB directory is on one, and `make bench` names
it beside its figures.
"""

from __future__ import annotations

import os
from pathlib import Path

MOUNTS = Path("/proc/mounts")
PROC_FS = Path("/proc/fs")


def mount_of(path: Path, mounts: Path = MOUNTS) -> tuple[str, str]:
    """The device and type of the file system holding `path` (the longest mount point above it)."""
    resolved, best = str(path.resolve()), ("", "unknown", "unknown")
    for line in mounts.read_text().splitlines():
        device, point, kind = line.split()[:3]
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best[0]):
            best = (point, device, kind)
    return best[1], best[2]


def filesystem(path: Path, mounts: Path = MOUNTS) -> str:
    """The type of the file system holding `path`."""
    return mount_of(path, mounts)[1]


def journal(path: Path, mounts: Path = MOUNTS, proc_fs: Path = PROC_FS) -> bool | None:
    """Whether the ext3/ext4 file system holding `path` keeps a journal; None for another kind, or
    when its device cannot be told (ext4 lists each device it has mounted in /proc/fs/ext4/<name>,
    and a journal in use shows as /proc/fs/jbd2/<name>-<journal inode>)."""
    device, kind = mount_of(path, mounts)
    if kind not in ("ext3", "ext4") or not device.startswith("/dev/"):
        return None
    name = Path(os.path.realpath(device)).name  # /dev/mapper/x is a link to /dev/dm-0
    if not (proc_fs / "ext4" / name).is_dir():
        return None  # e.g. /dev/root, a name the kernel does not list
    jbd2 = proc_fs / "jbd2"
    return jbd2.is_dir() and any(entry.name.startswith(f"{name}-") for entry in jbd2.iterdir())


def journal_advice(path: Path, mounts: Path = MOUNTS, proc_fs: Path = PROC_FS) -> str | None:
    """What to tell the operator of a chDB directory on an ext3/ext4 without a journal; else None."""
    if journal(path, mounts, proc_fs) is not False:
        return None
    return (
        f"{path.resolve()} is on an ext4 without a journal, where creating a file gets slow while ClickHouse "
        "creates and removes thousands a minute: on the bench's machine a third of the sink's CPU went to it "
        "(bench/HISTORY.md); a file system with a journal avoids it"
    )
