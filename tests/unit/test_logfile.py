"""Following a server's log file: appends, partial lines, truncation, replacement, secrets, errors."""

from __future__ import annotations

import time
from pathlib import Path

from sparktop.logfile import LogFollower, header_time, mask_logged_args

NOW = time.mktime((2026, 12, 1, 12, 0, 0, 0, 0, -1))


def follower(path: Path, secrets: tuple[str, ...] = ()) -> LogFollower:
    return LogFollower(path, now=lambda: NOW, secrets=secrets)


def texts(f: LogFollower) -> list[str]:
    return [line.text for line in f.poll()]


def test_lines_come_once_and_a_partial_line_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_bytes(b"one\ntwo\nthr")
    f = follower(path)
    assert texts(f) == ["one", "two"]
    assert texts(f) == []
    with open(path, "ab") as out:
        out.write(b"ee\r\nfour\n")
    assert texts(f) == ["three", "four"]


def test_a_truncated_or_replaced_file_is_read_again_from_the_top(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_text("old server line 1\nold server line 2\n")
    f = follower(path)
    assert len(texts(f)) == 2
    path.write_text("new\n")  # `vllm serve ... > server.log` again: truncated, shorter
    assert texts(f) == ["new"]
    assert f.restarts == 1
    replacement = tmp_path / "next.log"
    replacement.write_text("rotated 1\nrotated 2\nrotated 3\n")
    replacement.replace(path)  # a new file under the same name (a new inode)
    assert texts(f) == ["rotated 1", "rotated 2", "rotated 3"]
    assert f.restarts == 2


def test_a_missing_file_is_a_problem_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    f = follower(path)
    assert texts(f) == []
    assert f.problem is not None and "later.log" in f.problem and "No such file" in f.problem
    path.write_text("INFO 11-30 09:57:27 [x.py:1] hello\n")
    assert texts(f) == ["INFO 11-30 09:57:27 [x.py:1] hello"]
    assert f.problem is None


def test_lines_read_back_take_their_header_time_and_later_lines_the_time_they_came(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_text(
        "(APIServer pid=1) INFO 11-30 09:57:27 [a.py:1] first\n"
        "no header here\n"
        "(EngineCore pid=2) INFO 11-30 09:57:36 [b.py:2] second\n"
    )
    f = follower(path)
    lines = f.poll()
    expected = time.mktime((time.localtime(NOW).tm_year, 11, 30, 9, 57, 27, 0, 0, -1))
    assert [line.t for line in lines] == [expected, expected, expected + 9]
    assert f.caught_up
    with open(path, "a") as out:
        out.write("(APIServer pid=1) INFO 11-30 09:58:00 [c.py:3] live\n")
    assert [line.t for line in f.poll()] == [NOW]


def test_a_header_in_the_future_is_last_year() -> None:
    now = time.mktime((2027, 1, 2, 12, 0, 0, 0, 0, -1))
    t = header_time("INFO 12-31 23:59:00 [x.py:1] hi", now)
    assert t is not None and time.localtime(t).tm_year == 2026
    assert header_time("no header", now) is None
    assert header_time("INFO 13-45 99:99:99 [x.py:1] impossible", now) is None


def test_secrets_never_leave_the_follower(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_text(
        "(APIServer pid=1) INFO 11-30 09:57:27 [api_utils.py:286] non-default args: {'model': 'm', "
        "'api_key': ['sk-live-123456'], 'hf_token': 'hf_abcdef', 'max_tokens': '512'}\n"
        "token seen later: hf_envsecret9\n"
    )
    lines = texts(follower(path, secrets=("hf_envsecret9",)))
    joined = "\n".join(lines)
    assert "sk-live-123456" not in joined and "hf_abcdef" not in joined and "hf_envsecret9" not in joined
    assert "'api_key': ['***']" in joined and "'max_tokens': '512'" in joined


def test_masking_leaves_ordinary_arguments_alone() -> None:
    text = "{'tokenizer': 'x', 'max_num_batched_tokens': '8192', 'api_key': ''}"
    assert mask_logged_args(text) == text


def test_an_unreadable_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.log"
    folder.mkdir()
    f = follower(folder)
    assert f.poll() == []
    assert f.problem is not None and "a-folder.log" in f.problem
