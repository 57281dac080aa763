"""The file system under a directory: its type (the nearest mount), and whether an ext4 keeps a journal."""

from __future__ import annotations

from pathlib import Path

from deploy.disk import filesystem, journal, journal_advice


def mount_table(tmp_path: Path, *mounts: tuple[str, str, str]) -> Path:
    """A /proc/mounts with the root on /dev/vda (ext4), and `mounts`: (device, directory under tmp_path, type)."""
    table = tmp_path / "mounts"
    lines = [("/dev/vda", "/", "ext4")] + [(device, f"{tmp_path.resolve()}/{at}", kind) for device, at, kind in mounts]
    table.write_text("".join(f"{device} {at} {kind} rw 0 0\n" for device, at, kind in lines))
    return table


def test_the_file_system_is_the_one_mounted_nearest_the_path(tmp_path):
    base = tmp_path.resolve()
    mounts = mount_table(
        tmp_path, ("devtmpfs", "dev", "devtmpfs"), ("tmpfs", "dev/shm", "tmpfs"), ("tmpfs", "data", "tmpfs")
    )
    assert filesystem(base / "dev/shm/bench", mounts) == "tmpfs"  # inside dev too: the longer mount wins
    assert filesystem(base / "dev/null", mounts) == "devtmpfs"
    assert filesystem(base / "data", mounts) == "tmpfs"
    assert filesystem(base / "database", mounts) == "ext4"  # a longer name, not a directory below data
    assert filesystem(Path("/proc/self")) == "proc"  # and the machine's own table


def fake_proc(tmp_path: Path, ext4: list[str], jbd2: list[str]) -> Path:
    proc_fs = tmp_path / "fs"
    for name in ext4:
        (proc_fs / "ext4" / name).mkdir(parents=True)
    for name in jbd2:
        (proc_fs / "jbd2" / name).mkdir(parents=True)
    return proc_fs


def test_an_ext4_journal_is_told_by_its_device_in_jbd2(tmp_path):
    base = tmp_path.resolve()
    mounts = mount_table(
        tmp_path,
        ("/dev/loop0", "journaled", "ext4"),
        ("/dev/loop1", "loop1", "ext4"),
        ("/dev/root", "root", "ext4"),
        ("tmpfs", "memory", "tmpfs"),
    )
    # loop10 has a journal; loop1, whose name it starts with, has none.
    proc_fs = fake_proc(tmp_path, ext4=["vda", "loop0", "loop1", "loop10"], jbd2=["loop0-8", "loop10-8"])
    assert journal(base / "journaled" / "bench", mounts, proc_fs) is True
    assert journal(base / "loop1", mounts, proc_fs) is False
    assert journal(base / "elsewhere", mounts, proc_fs) is False  # the root, /dev/vda, has none
    assert journal(base / "root", mounts, proc_fs) is None  # a device name ext4 does not list: not told
    assert journal(base / "memory", mounts, proc_fs) is None  # not ext3/ext4
    no_journals = fake_proc(tmp_path / "other", ext4=["vda"], jbd2=[])
    assert journal(base / "elsewhere", mounts, no_journals) is False


def test_the_worker_is_told_only_of_an_ext4_without_a_journal(tmp_path):
    base = tmp_path.resolve()
    mounts = mount_table(tmp_path, ("/dev/loop0", "journaled", "ext4"), ("tmpfs", "m", "tmpfs"))
    proc_fs = fake_proc(tmp_path, ext4=["vda", "loop0"], jbd2=["loop0-8"])
    advice = journal_advice(base / "data" / "chdb", mounts, proc_fs)
    assert advice is not None
    assert "without a journal" in advice
    assert str(base / "data" / "chdb") in advice
    assert journal_advice(base / "journaled" / "chdb", mounts, proc_fs) is None
    assert journal_advice(base / "m" / "chdb", mounts, proc_fs) is None
