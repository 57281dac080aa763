"""The file system under a directory: its type (the nearest mount), and whether an ext4 keeps a journal."""

from __future__ import annotations

from pathlib import Path

from deploy.disk import filesystem, journal, journal_advice


def test_the_file_system_is_the_one_mounted_nearest_the_path(tmp_path):
    base = tmp_path.resolve()
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/vda / ext4 rw,relatime 0 0\n"
        f"devtmpfs {base}/dev devtmpfs rw 0 0\n"
        f"tmpfs {base}/dev/shm tmpfs rw 0 0\n"
        f"tmpfs {base}/data tmpfs rw 0 0\n"
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
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/vda / ext4 rw,relatime 0 0\n"
        f"/dev/loop0 {base}/journaled ext4 rw 0 0\n"
        f"/dev/loop1 {base}/loop1 ext4 rw 0 0\n"
        f"/dev/root {base}/root ext4 rw 0 0\n"
        f"tmpfs {base}/memory tmpfs rw 0 0\n"
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
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/vda / ext4 rw 0 0\n/dev/loop0 {base}/journaled ext4 rw 0 0\ntmpfs {base}/m tmpfs rw 0 0\n")
    proc_fs = fake_proc(tmp_path, ext4=["vda", "loop0"], jbd2=["loop0-8"])
    advice = journal_advice(base / "data" / "chdb", mounts, proc_fs)
    assert advice is not None
    assert "without a journal" in advice
    assert str(base / "data" / "chdb") in advice
    assert journal_advice(base / "journaled" / "chdb", mounts, proc_fs) is None
    assert journal_advice(base / "m" / "chdb", mounts, proc_fs) is None
