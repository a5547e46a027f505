"""vsr batch on what goes wrong around it: URLs as inputs (named from the URL, one failing),
two batches on one OUTDIR at once, and an input deleted after the batch was planned.

Every case runs ``vsr batch`` as a real process against servers on 127.0.0.1 started by
the test (tests/servers.py). A TCP server that holds its client lets a test act at a known
moment inside a running batch (the batch is then in that job, holding its OUTDIR lock).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from media import frame_count, write_clip
from servers import serve_folder, tcp_feeder
from vsr.batch.plan import url_name
from vsr.batch.state import JOURNAL_NAME
from vsr.output import PARTIAL_TAG

VSR = [sys.executable, "-m", "vsr"]
FAST = ["--codec", "ffv1", "--progress", "plain"]


def _batch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(VSR + ["batch", *args], capture_output=True, text=True, timeout=timeout)


def _report(path: Path) -> dict[str, dict]:
    return {f["input"]: f for f in json.loads(path.read_text())["files"]}


def _journal(outdir: Path) -> list[dict]:
    return [json.loads(line) for line in (outdir / JOURNAL_NAME).read_text().splitlines()]


def _no_partials(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if PARTIAL_TAG in p.name]


def test_url_names() -> None:
    assert url_name("http://127.0.0.1:8000/clips/a%20b.ts?token=x#t=3") == "a_b.ts"
    assert url_name("rtsp://cam1.local:554/") == "cam1-local_554"
    assert url_name("udp://@:1234") == "udp_1234"
    assert url_name("tcp://127.0.0.1:9000?listen=1") == "127-0-0-1_9000"
    assert url_name("http://h/-x.mkv") == "x.mkv"  # never a leading dash (an option) or dot (hidden)
    assert url_name("http://h/.x.mkv") == "x.mkv"


def test_batch_reads_urls_names_them_and_goes_on_past_a_failing_one(tmp_path: Path) -> None:
    web = tmp_path / "web"
    write_clip(web / "a.ts", 64, 48, frames=5)  # mpegts by its suffix
    write_clip(web / "sub" / "a.ts", 48, 32, frames=3)  # same name, another folder: a-2
    write_clip(web / "cam.mkv", 32, 32, frames=4, codec="ffv1")
    out, report, requests = tmp_path / "out", tmp_path / "report.json", []
    silent = threading.Event()
    with serve_folder(web, requests) as base, tcp_feeder(b"", lambda i: silent.wait(120) and None) as dead_camera:
        # the dead camera: its connection opens, then nothing ever arrives
        urls = [f"{base}/a.ts", f"{base}/sub/a.ts?x=1", f"{base}/cam.mkv", f"{base}/nope.ts", dead_camera]
        args = [*urls, "-d", str(out), "--container", "mkv", "--report", str(report), "--timeout", "2",
                "--input-option", "user_agent=vsr-batch-test", *FAST]
        plan = _batch(*args, "--dry-run")
        assert plan.returncode == 1, plan.stderr  # the plan already knows two will fail
        lines = plan.stdout.splitlines()
        assert f"{urls[1]}: 48x32" in lines[1] and lines[1].split(" -> ")[-1].split("  [")[0] == str(out / "a-2.mkv"), lines
        assert not out.exists() or not any(out.iterdir())
        r = _batch(*args)
        assert r.returncode == 1, r.stderr  # some failed, the rest done
        files = _report(report)
        for url, name, frames, size in [(urls[0], "a.mkv", 5, (128, 96)), (urls[1], "a-2.mkv", 3, (96, 64)),
                                        (urls[2], "cam.mkv", 4, (64, 64))]:
            assert files[url]["status"] == "done" and files[url]["output"] == str(out / name)
            assert frame_count(out / name) == frames and files[url]["output_size"] == list(size)
        assert files[urls[3]]["status"] == "failed" and "404" in files[urls[3]]["reason"]
        assert files[dead_camera]["status"] == "failed" and "--timeout" in files[dead_camera]["reason"]
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a-2.mkv", "a.mkv", "cam.mkv"]
        assert _no_partials(out)
        # --input-option reached FFmpeg's HTTP protocol: every request carried the agent
        assert requests and all(agent == "vsr-batch-test" for _, agent in requests), requests
        done = {rec["input"] for rec in _journal(out) if rec["event"] == "done"}
        assert done == set(urls[:3])

        # the same command again: the journal says the URLs are done
        before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mkv")}
        requests.clear()
        r = _batch(*args)
        assert r.returncode == 1, r.stderr
        files = _report(report)
        assert [files[u]["status"] for u in urls] == ["skipped"] * 3 + ["failed"] * 2
        assert all("journal" in files[u]["reason"] for u in urls[:3])
        assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.mkv")} == before
        # planning probes every URL again (its first frame), but a done one is not upscaled again
        assert {path for path, _ in requests} == {"/a.ts", "/sub/a.ts?x=1", "/cam.mkv", "/nope.ts"}
        silent.set()


def test_second_batch_on_the_same_outdir_refuses_and_the_first_completes(tmp_path: Path) -> None:
    src = tmp_path / "in"
    clips = [write_clip(src / f"{n}.mkv", 64, 48, frames=6, codec="ffv1") for n in "bc"]
    stream = write_clip(tmp_path / "web" / "live.ts", 48, 32, frames=8).read_bytes()
    out = tmp_path / "out"
    inside, release = threading.Event(), threading.Event()

    def hold(index: int) -> None:  # connection 0 is the plan's probe, 1 the job itself
        if index == 1:
            inside.set()
            release.wait(120)
        return None

    with tcp_feeder(stream, hold) as url:
        first = subprocess.Popen(VSR + ["batch", url, *map(str, clips), "-d", str(out), *FAST],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert inside.wait(120), "the first batch never started its first job"
            second = _batch(*map(str, clips), "-d", str(out), *FAST, timeout=120)
        finally:
            release.set()
            stdout, stderr = first.communicate(timeout=300)
    assert second.returncode == 2, second.stderr
    assert "another vsr batch is writing there" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    assert str(first.pid) in second.stderr  # names the batch holding OUTDIR
    assert first.returncode == 0, stderr
    assert frame_count(out / f"{url_name(url)}.mkv") == 8  # tcp://127.0.0.1:PORT: named from host and port
    assert all(frame_count(out / c.name) == 6 for c in clips)
    assert _no_partials(out)
    done = {rec["input"] for rec in _journal(out) if rec["event"] == "done"}
    assert done == {url, *map(str, clips)}  # one journal, the first batch's
    # once the first is over, the second runs: everything is already there
    again = _batch(*map(str, clips), "-d", str(out), *FAST, timeout=120)
    assert again.returncode == 0, again.stderr


def test_input_deleted_after_planning_is_failed_and_the_batch_goes_on(tmp_path: Path) -> None:
    src = tmp_path / "in"
    b = write_clip(src / "b.mkv", 64, 48, frames=4, codec="ffv1")
    c = write_clip(src / "c.mkv", 48, 32, frames=5, codec="ffv1")
    stream = write_clip(tmp_path / "web" / "first.ts", 32, 32, frames=4).read_bytes()
    out, report = tmp_path / "out", tmp_path / "report.json"

    def delete_b(index: int) -> None:
        if index == 1:  # the batch is in its first job: b.mkv was probed and planned
            b.unlink()
        return None

    with tcp_feeder(stream, delete_b) as url:
        r = _batch(url, str(b), str(c), "-d", str(out), "--report", str(report), *FAST)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    files = _report(report)
    assert files[url]["status"] == "done" and files[str(c)]["status"] == "done"
    assert files[str(b)]["status"] == "failed" and "no such file" in files[str(b)]["reason"]
    assert frame_count(out / "c.mkv") == 5 and not (out / "b.mkv").exists()
    assert _no_partials(out)
    failed = [rec for rec in _journal(out) if rec["event"] == "failed"]
    assert [rec["input"] for rec in failed] == [str(b)]


def test_url_that_breaks_between_plan_and_job_is_failed_and_the_batch_goes_on(tmp_path: Path) -> None:
    c = write_clip(tmp_path / "in" / "c.mkv", 48, 32, frames=5, codec="ffv1")
    stream = write_clip(tmp_path / "web" / "cam.ts", 32, 32, frames=4).read_bytes()
    out, report = tmp_path / "out", tmp_path / "report.json"
    # the plan's probe gets the stream; the job's connection gets a few bytes of nonsense
    with tcp_feeder(stream, lambda i: b"not a stream" if i >= 1 else None) as url:
        r = _batch(url, str(c), "-d", str(out), "--report", str(report), "--timeout", "5", *FAST)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    files = _report(report)
    assert files[url]["status"] == "failed" and files[url]["reason"]
    assert files[str(c)]["status"] == "done" and frame_count(out / "c.mkv") == 5
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["c.mkv"]
    assert _no_partials(out)
    assert [rec["input"] for rec in _journal(out) if rec["event"] == "failed"] == [url]
