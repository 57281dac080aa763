"""The bench names the machine it measured on: the working directory's file system and its cost of creating a file."""

from __future__ import annotations

from pathlib import Path

from tests.load.bench import file_create_ms, filesystem, journal, machine


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


def test_an_ext4_journal_is_told_by_its_device_in_jbd2(tmp_path):
    base = tmp_path.resolve()
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/vda / ext4 rw,relatime 0 0\n"
        f"/dev/loop0 {base}/journaled ext4 rw 0 0\n"
        f"/dev/loop1 {base}/loop1 ext4 rw 0 0\n"
        f"tmpfs {base}/memory tmpfs rw 0 0\n"
    )
    jbd2 = tmp_path / "jbd2"
    (jbd2 / "loop0-8").mkdir(parents=True)
    (jbd2 / "loop10-8").mkdir()  # another device whose name starts alike
    assert journal(base / "journaled" / "bench", mounts, jbd2) is True
    assert journal(base / "loop1", mounts, jbd2) is False
    assert journal(base / "elsewhere", mounts, jbd2) is False  # the root, /dev/vda, has none here
    assert journal(base / "memory", mounts, jbd2) is None  # not ext3/ext4: not told
    assert journal(base / "elsewhere", mounts, tmp_path / "no-jbd2") is False  # no journal mounted at all


def test_creating_files_is_timed_in_a_directory_removed_after(tmp_path):
    cost = file_create_ms(tmp_path, files=20)
    assert cost > 0
    assert list(tmp_path.iterdir()) == []


def test_the_machine_names_its_working_directory_and_file_system(tmp_path):
    run = tmp_path / "tongfang-bench-x"
    run.mkdir()
    described = machine(run)
    assert described["workdir"] == str(tmp_path.resolve())
    assert described["filesystem"] == filesystem(tmp_path)
    assert described["journal"] == journal(tmp_path)
    assert described["cpus"] >= 1
    assert described["memory_gib"] > 0
