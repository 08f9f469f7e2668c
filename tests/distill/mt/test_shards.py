"""Kill-and-resume of the sharded decoding writer."""
import json

import pytest
from hypothesis import given, settings, strategies as st

from ensemblekd.distill.mt.shards import ShardConfigError, ShardedOutputs, decode_sharded


class Crash(RuntimeError):
    pass


def fake_decode(lines):
    # a record with a newline and a list: the JSONL format must keep alignment
    return [{"out": s.upper() + "\nX", "n": len(s)} for s in lines]


def crashing(after_shards):
    calls = {"n": 0}

    def decode(lines):
        if calls["n"] == after_shards:
            raise Crash("killed")
        calls["n"] += 1
        return fake_decode(lines)

    return decode, calls


SOURCES = [f"line {i}" for i in range(23)]
CONFIG = {"method": "ebbs", "pivots": ("en", "cs"), "beam": 5}


def test_uninterrupted_run_aligned(tmp_path):
    out = decode_sharded(SOURCES, fake_decode, tmp_path, config=CONFIG, shard_size=5, quiet=True)
    assert out == fake_decode(SOURCES)
    assert sorted(p.name for p in tmp_path.glob("shard-*")) == [f"shard-0000{i}.jsonl" for i in range(5)]
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["num_sources"] == 23 and man["config"]["pivots"] == ["en", "cs"]


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 17), size=st.integers(1, 6), k=st.integers(0, 5), k2=st.integers(0, 5))
def test_kill_and_resume_equals_single_run(tmp_path_factory, n, size, k, k2):
    d = tmp_path_factory.mktemp("shards")
    sources = [f"s{i} ü" for i in range(n)]
    total = -(-n // size)
    calls_total = 0
    for crash_after in (k, k2, None):  # crash twice, then finish
        if crash_after is None:
            decode, calls = crashing(-1)
        else:
            decode, calls = crashing(crash_after)
        try:
            out = decode_sharded(sources, decode, d, config=CONFIG, shard_size=size, quiet=True)
        except Crash:
            calls_total += calls["n"]
            continue
        calls_total += calls["n"]
        break
    assert out == fake_decode(sources)
    assert calls_total == total  # every shard decoded exactly once over all runs: no duplicate work


def test_leftover_temporary_is_ignored(tmp_path):
    decode, _ = crashing(2)
    with pytest.raises(Crash):
        decode_sharded(SOURCES, decode, tmp_path, config=CONFIG, shard_size=5, quiet=True)
    # a writer killed mid-write leaves a partial temporary file: it must not count as done
    (tmp_path / ".shard-00002.jsonl.tmp-999").write_text('{"out": "partial"}\n')
    seen = []

    def rec(lines):
        seen.append(lines[0])
        return fake_decode(lines)

    out = decode_sharded(SOURCES, rec, tmp_path, config=CONFIG, shard_size=5, quiet=True)
    assert out == fake_decode(SOURCES)
    assert seen == ["line 10", "line 15", "line 20"]
    assert not list(tmp_path.glob(".shard-*"))


@pytest.mark.parametrize("change", ["config", "sources", "shard_size"])
def test_refuses_other_config(tmp_path, change):
    decode_sharded(SOURCES, fake_decode, tmp_path, config=CONFIG, shard_size=5, quiet=True)
    cfg, src, size = dict(CONFIG), list(SOURCES), 5
    if change == "config":
        cfg["method"] = "average"
    elif change == "sources":
        src[3] = "other"
    else:
        size = 4
    with pytest.raises(ShardConfigError, match="different configuration"):
        decode_sharded(src, fake_decode, tmp_path, config=cfg, shard_size=size, quiet=True)


def test_wrong_number_of_outputs_and_damaged_shard(tmp_path):
    with pytest.raises(ValueError, match=r"shard 0 \(lines 1-5\): decoder returned 4 outputs for 5"):
        decode_sharded(SOURCES, lambda xs: xs[1:], tmp_path, config=CONFIG, shard_size=5, quiet=True)
    so = ShardedOutputs(tmp_path, SOURCES, CONFIG, 5)
    so.run(fake_decode, quiet=True)
    so.shard_path(1).write_text('{"a": 1}\n')
    with pytest.raises(ShardConfigError, match="1 lines, expected 5"):
        so.load()


def test_stray_shards_without_manifest(tmp_path):
    (tmp_path / "shard-00000.jsonl").write_text("{}\n")
    with pytest.raises(ShardConfigError, match="no manifest.json"):
        ShardedOutputs(tmp_path, SOURCES, CONFIG, 5)
