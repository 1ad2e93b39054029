"""rcc_collect: copy an acquisition home from every camera's machine, verify every file by SHA-256, repair what no
longer matches, delete on the cameras only what was verified; on this machine and over real SSH (the test bed)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import bed_config, conduct, require_tool
from rpi_camera_colony.control.conductor import Conductor
from rpi_camera_colony.testing import wait_for
from rpi_camera_colony.testing.testbed import SshTestBed

BIN = Path(sys.executable).parent


def collect(config: Path, dest: Path, *args: str, wrap: Callable[[list[str]], list[str]] = list,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    require_tool("rsync")
    command = wrap([str(BIN / "rcc_collect"), "-c", str(config), "-n", "coll__take", "--to", str(dest), *args])
    return subprocess.run(command, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, cwd=cwd)


def manifest_ok(folder: Path) -> list[str]:
    """The files the manifest lists, each checked against its SHA-256."""
    names = []
    for line in (folder / "rcc.manifest.sha256").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
        names.append(name)
    return names


@pytest.fixture
def recorded(colony_config: Callable[..., Path], data_dir: Path) -> Path:
    config = colony_config(cameras=2, framerate=30)
    with Conductor(config_file=str(config), acquisition_name="coll__take") as conductor:
        conductor.start_acquisition()
        assert wait_for(lambda: all(s.frames >= 30 for s in conductor.status().values()))
        conductor.stop_acquisition()
    return config


def test_collect_verify_repair_and_delete(recorded: Path, data_dir: Path, tmp_path: Path) -> None:
    source = data_dir / "coll" / "coll__take"
    originals = {p.name: p.read_bytes() for p in source.iterdir()}
    dest = tmp_path / "home"
    first = collect(recorded, dest)
    assert first.returncode == 0, first.stdout + first.stderr
    folder = dest / "coll" / "coll__take"
    assert sorted(manifest_ok(folder)) == sorted(originals)
    assert "cam0" in first.stdout and first.stdout.count(" ok") == 2
    from rpi_camera_colony.session.convert import convert_video, videos_in

    for video in videos_in([dest]):
        convert_video(video)  # MP4s made at home afterwards are not the cameras' files
    listed = subprocess.run([str(BIN / "rcc_sessions"), str(dest), "--json"], capture_output=True, text=True)
    assert '"verified": 2' in listed.stdout  # rcc_sessions sees both cameras collected and verified
    for mp4 in folder.glob("*.mp4"):
        mp4.unlink()

    damaged = next(folder.glob("*.cam1.*.rcc.video.h264"))
    damaged.write_bytes(damaged.read_bytes()[:-10] + b"0123456789")  # same size, other bytes
    partial = next(folder.glob("*.cam0.*.rcc.video.h264"))
    partial.write_bytes(partial.read_bytes()[:100])  # as if a copy was interrupted
    second = collect(recorded, dest)
    assert second.returncode == 0, second.stdout + second.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "rcc.manifest.sha256"} == originals
    assert [line.split()[-3] for line in second.stdout.splitlines()[1:3]] == ["1", "1"]  # one repaired per camera

    # an unverifiable file (its copy cannot be written) keeps every file of that camera on the camera's machine
    blocked = next(folder.glob("*.cam1.*.rcc.clock.csv"))
    blocked.unlink()
    blocked.mkdir()
    (blocked / "x").write_text("a folder where the copy must go")
    third = collect(recorded, dest, "--delete-remote")
    assert third.returncode == 1
    assert "cam1" in third.stdout and "FAILED" in third.stdout
    assert sorted(p.name for p in source.iterdir()) == sorted(n for n in originals if ".cam1." in n)  # cam0's gone


def test_a_destination_without_room_is_refused_before_copying(
    recorded: Path, small_disk: Callable[[str], Path]
) -> None:
    dest = small_disk("16k")
    result = collect(recorded, dest)
    assert result.returncode == 1
    assert "free, the files need" in result.stderr and "choose another --to" in result.stderr
    assert not (dest / "coll").exists() or not any((dest / "coll").rglob("*.h264"))


def test_bad_arguments(recorded: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(BIN / "rcc_collect"), "-c", str(recorded), "-n", "../x", "--to", str(tmp_path)],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 2 and "cannot be used in file names" in result.stderr
    missing = collect(recorded, tmp_path / "d", "--camera", "cam9")
    assert missing.returncode == 2 and "no such camera in the config (known: cam0, cam1)" in missing.stderr
    # Found: these were accepted silently, or (a file as DEST) ended in a NotADirectoryError traceback
    for args, said in [
        (["--jobs", "0"], "rcc_collect: --jobs must be at least 1"),
        (["--bwlimit", "-5"], "rcc_collect: --bwlimit must be at least 1 (KB/s); leave it out for no limit"),
    ]:
        refused = collect(recorded, tmp_path / "d", *args)
        assert refused.returncode == 2 and refused.stderr.strip() == said, refused.stderr
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    for dest in (a_file, a_file / "below"):
        refused = collect(recorded, dest)
        assert refused.returncode == 2 and refused.stdout == "", refused.stderr
        assert refused.stderr.strip() == f"rcc_collect: --to {dest}: {a_file} is a file, not a folder: give a " \
                                         "folder to collect into"  # fmt: skip
    assert not (tmp_path / "d").exists()


def test_a_relative_data_path_is_said_to_be_from_the_current_folder(
    colony_config: Callable[..., Path], tmp_path: Path
) -> None:
    """Found: run from another folder than the conductor's, it said "no folder rcc_data/... on this machine"."""
    config = colony_config(cameras=1, data_path="rcc_data")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = collect(config, tmp_path / "home", cwd=elsewhere)
    assert result.returncode == 1
    assert f"FAILED: no folder {elsewhere}/rcc_data/coll/coll__take on this machine (remote_data_path = rcc_data " \
           "is relative: to the folder rcc_collect runs in" in result.stdout  # fmt: skip


def test_delete_remote_removes_the_folder_it_empties(recorded: Path, data_dir: Path, tmp_path: Path) -> None:
    """Found: --delete-remote left the empty acquisition folder on the camera's machine. It goes once empty (only
    then), and a run after that still finds every camera collected."""
    source = data_dir / "coll" / "coll__take"
    dest = tmp_path / "home"
    first = collect(recorded, dest, "--delete-remote", "--camera", "cam0")
    assert first.returncode == 0, first.stdout + first.stderr
    assert source.is_dir() and not list(source.glob("*.cam0.*")) and list(source.glob("*.cam1.*"))
    second = collect(recorded, dest, "--delete-remote")
    assert second.returncode == 0, second.stdout + second.stderr
    assert not source.exists() and source.parent.is_dir()
    again = collect(recorded, dest, "--delete-remote")
    assert again.returncode == 0 and again.stdout.count(" ok") == 2, again.stdout + again.stderr
    assert len(manifest_ok(dest / "coll" / "coll__take")) == 10


def test_over_ssh_a_host_cut_is_completed_by_the_next_run(bed: SshTestBed, tmp_path: Path) -> None:
    config = bed_config(bed, tmp_path, cameras=2)
    recorded = conduct(bed, config, "-n", "coll__take", "-t", "2")
    assert recorded.returncode == 0, recorded.stderr
    dest = tmp_path / "home"
    if bed.use_namespaces:
        bed.cut(1)
        try:
            cut = collect(config, dest, "--delete-remote", wrap=bed.command)
        finally:
            bed.restore(1)
        assert cut.returncode == 1, cut.stdout + cut.stderr
        lines = {line.split()[0]: line for line in cut.stdout.splitlines()[1:3]}
        assert lines["cam0"].rstrip().endswith("ok") and "FAILED" in lines["cam1"]
        source = tmp_path / "data" / "coll" / "coll__take"
        assert not list(source.glob("*.cam0.*")) and list(source.glob("*.cam1.*"))  # only verified files deleted
    done = collect(config, dest, wrap=bed.command)
    assert done.returncode == 0, done.stdout + done.stderr
    folder = dest / "coll" / "coll__take"
    names = manifest_ok(folder)
    assert {name.split(".")[1] for name in names} == {"cam0", "cam1"} and len(names) == 10  # 5 files a camera


def test_over_ssh_to_a_server_verified_there(bed: SshTestBed, tmp_path: Path) -> None:
    """DEST host:path (a NAS): collected and verified here first, copied on, checked on the server with sha256sum;
    only then are the cameras' files deleted and the staging copy removed."""
    config = bed_config(bed, tmp_path, cameras=2)
    recorded = conduct(bed, config, "-n", "coll__take", "-t", "2")
    assert recorded.returncode == 0, recorded.stderr
    server = f"{bed.user}@{bed.hosts[2].address}"
    nas, staging = tmp_path / "nas", tmp_path / "staging"
    done = collect(config, Path(f"{server}:{nas}"), "--delete-remote", "--staging", str(staging), wrap=bed.command)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"server: 10 file(s) verified on {server}:{nas}/coll/coll__take" in done.stdout
    assert len(manifest_ok(nas / "coll" / "coll__take")) == 10
    assert not list((tmp_path / "data" / "coll" / "coll__take").glob("*.rcc.*"))  # deleted once verified there
    assert not (staging / "coll" / "coll__take").exists()  # the staging copy is gone


def test_over_ssh_a_host_cut_during_the_copy_is_continued(bed: SshTestBed, tmp_path: Path) -> None:
    """The link goes down while a camera's files are being copied (a 24 MB file, read at 2 MB/s): that camera fails
    with a partial copy; the next run continues it and verifies everything."""
    import os
    import threading

    if not bed.use_namespaces:
        pytest.skip("cutting a link needs the namespaces test bed")
    config = bed_config(bed, tmp_path, cameras=1)
    recorded = conduct(bed, config, "-n", "coll__take", "-t", "1")
    assert recorded.returncode == 0, recorded.stderr
    source = tmp_path / "data" / "coll" / "coll__take"
    stem = next(source.glob("*.rcc.video.h264")).name.split(".rcc.")[0]
    (source / f"{stem}.rcc.bulk.bin").write_bytes(os.urandom(24_000_000))  # far more than the sockets buffer
    dest = tmp_path / "home"
    folder = dest / "coll" / "coll__take"

    def copying() -> bool:
        return any(p.stat().st_size > 4_000_000 for p in folder.glob(".*.bin.*"))

    def cut_when_copying() -> None:
        if wait_for(copying, timeout=60):
            bed.cut(0)  # mid-copy: rsync's temporary file holds part of the file

    cutter = threading.Thread(target=cut_when_copying)
    cutter.start()
    try:
        interrupted = collect(config, dest, "--bwlimit", "2000", wrap=bed.command)
    finally:
        cutter.join()
        bed.restore(0)
    assert interrupted.returncode == 1 and "FAILED" in interrupted.stdout, interrupted.stdout + interrupted.stderr
    resumed = collect(config, dest, wrap=bed.command)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert len(manifest_ok(folder)) == 6
