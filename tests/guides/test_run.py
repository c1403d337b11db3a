"""The guide runner: how it reads blocks and compares output, and (against
the real scaihub binary) that it fails a guide at the right line."""

import subprocess
import sys
from pathlib import Path

import pytest

import run

FENCE = "`" * 3


def guide(*parts: str) -> str:
    return "\n".join(parts) + "\n"


def test_blocks_are_read_with_their_info_and_first_line():
    text = guide(
        "# Title", "", f"{FENCE}python file=pkg/app.py", "print('hi')", FENCE, "",
        f"{FENCE}sh run", "python3 pkg/app.py", FENCE, f"{FENCE}text expect", "hi", FENCE,
        f"{FENCE}{FENCE[0]}md file=nested.md", f"{FENCE}sh run", "inner", FENCE, FENCE + FENCE[0],
    )
    blocks = run.parse_blocks(text)
    assert [(b.line, b.action) for b in blocks] == [(3, "file"), (7, "run"), (10, "expect-text"), (13, "file")]
    assert blocks[0].path == "pkg/app.py" and blocks[0].text == "print('hi')\n"
    assert blocks[3].text == f"{FENCE}sh run\ninner\n{FENCE}\n"


@pytest.mark.parametrize("info", ["", "sh", "bash run", "text", "json expect extra", "python file="])
def test_unmarked_or_unknown_blocks_are_bad(info):
    (block,) = run.parse_blocks(guide(f"{FENCE}{info}", "x", FENCE))
    assert block.action == "bad"


def test_unclosed_block_is_an_error():
    with pytest.raises(run.GuideError, match="line 2"):
        run.parse_blocks(guide("text", f"{FENCE}sh run", "echo"))


def test_json_expect_is_a_recursive_subset():
    actual = {"a": 1, "b": {"c": [1, {"d": 2, "e": 3}], "f": "x"}, "g": True}
    assert run.json_contains(actual, {"b": {"c": [1, {"d": 2}]}}) is None
    assert run.json_contains(actual, {"a": 1.0}) is None
    assert "no key 'z'" in run.json_contains(actual, {"b": {"z": 1}})
    assert "array of 1" in run.json_contains(actual, {"b": {"c": [1]}})
    assert "$.g" in run.json_contains(actual, {"g": 1})
    assert "$.b.f" in run.json_contains(actual, {"b": {"f": "y"}})


def run_runner(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "fixture.md"
    path.write_text(text)
    binary = run.REPO / "target" / "debug" / "scaihub"
    assert binary.is_file(), f"{binary} is missing: build it (cargo build -p scaihub) first"
    return subprocess.run(
        [sys.executable, str(Path(run.__file__)), "--scaihub", str(binary), str(path)],
        capture_output=True, text=True, timeout=300,
    )


def test_runner_passes_a_guide_against_a_real_server(tmp_path):
    done = run_runner(tmp_path, guide(
        f"{FENCE}text file=sub/greeting.txt", "hello", FENCE,
        f"{FENCE}sh run", "cat sub/greeting.txt", FENCE,
        f"{FENCE}text expect", "hello", FENCE,
        f"{FENCE}sh run",
        'curl -sS --fail "$SCAIHUB_URL/v1/me" -H "Authorization: Bearer $SCAIHUB_KEY" > me.json',
        'python3 -c \'import json, os; print(json.dumps({"same_org": json.load(open("me.json"))["org_id"] == os.environ["ORG"], "repo": os.path.isdir(os.environ["SCAIHUB_REPO"] + "/wit")}))\'',
        FENCE,
        f"{FENCE}json expect", '{"same_org": true, "repo": true}', FENCE,
    ))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "guide fixture.md: passed (5 blocks" in done.stdout
    assert "guides: 1 passed, 0 failed, 0 skipped" in done.stdout


def test_runner_fails_at_the_failing_block_with_its_output(tmp_path):
    done = run_runner(tmp_path, guide(
        "# Fixture", f"{FENCE}sh run", "echo fine", FENCE,
        f"{FENCE}sh run", "echo about to fail; echo oops >&2; false", FENCE,
    ))
    assert done.returncode == 1
    assert "fixture.md:5: the run block exited with 1" in done.stdout
    assert "about to fail" in done.stdout and "oops" in done.stdout


def test_runner_refuses_a_guide_with_an_unmarked_block(tmp_path):
    done = run_runner(tmp_path, guide(f"{FENCE}sh run", "echo x", FENCE, FENCE, "untested", FENCE))
    assert done.returncode == 1
    assert "fixture.md:4: block with info string ''" in done.stdout


def test_runner_fails_an_expectation_that_does_not_hold(tmp_path):
    done = run_runner(tmp_path, guide(
        f"{FENCE}sh run", "echo '{\"a\": {\"b\": 1}}'", FENCE, f"{FENCE}json expect", '{"a": {"b": 2}}', FENCE,
    ))
    assert done.returncode == 1
    assert "fixture.md:4: the output of the run block at line 1 does not match: $.a.b" in done.stdout
