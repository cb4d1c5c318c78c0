"""The replay benchmark: label parsing (malformed lines reported, not fatal), the metrics,
and `python -m bot eval` on a small stream with the real embedder and a real cache file."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from bot.cli import main
from bot.eval import day_auc, read_labels

ROBOT = [
    ("Tactile robot grasping with reinforcement learning", "A robot hand learns to grasp objects from touch."),
    ("Sim-to-real robot manipulation", "A manipulation policy trained in simulation runs on a real robot arm."),
    ("Visuomotor control for robot pick and place", "A robot arm picks and places objects from camera images."),
    ("Legged robot locomotion over rough terrain", "A quadruped robot learns to walk on rough terrain."),
    ("Embodied agents that navigate homes", "An embodied agent follows language instructions in 3D home simulators."),
]
OTHER = [
    ("Tax law question answering with LLMs", "A language model answers questions about tax statutes."),
    ("Protein folding with equivariant networks", "An equivariant network predicts protein structures."),
    ("Convergence of SGD on non-convex losses", "We prove convergence rates for stochastic gradient descent."),
    ("Stock price forecasting with transformers", "A transformer forecasts stock prices from market data."),
    ("Music generation with diffusion", "A diffusion model generates music from text prompts."),
]
CRITERIA = "1. Robot learning and embodied AI: new methods for robots that act in the world.\n"


def stream_rows(days: int = 4) -> list[dict]:
    rows = []
    for d in range(days):
        date = f"2025-03-0{d + 1}"
        for k, (title, abstract) in enumerate(ROBOT):
            rows.append({"date": date, "arxiv_id": f"2503.{d}{k:04d}", "title": f"{title} (part {d})",
                         "authors": ["A. B"], "abstract": abstract, "relevance": 9, "novelty": 5})
        for k, (title, abstract) in enumerate(OTHER):
            rows.append({"date": date, "arxiv_id": f"2503.{d}{k + 5:04d}", "title": f"{title} (part {d})",
                         "authors": ["C. D"], "abstract": abstract, "relevance": 3 if k % 2 else 6, "novelty": 5})
    return rows


@pytest.fixture
def files(tmp_path):
    labels = tmp_path / "stream.jsonl.gz"
    with gzip.open(labels, "wt", encoding="utf-8") as fh:
        for r in stream_rows():
            fh.write(json.dumps(r) + "\n")
    criteria = tmp_path / "criteria.txt"
    criteria.write_text(CRITERIA)
    return labels, criteria, tmp_path / "cache.sqlite"


def test_malformed_label_lines_are_reported_with_line_numbers_and_skipped(tmp_path):
    good = stream_rows(1)
    lines = [json.dumps(good[0]), "{not json", json.dumps({**good[1], "relevance": "high"}),
             "", json.dumps({**good[2], "date": "03/01/2025"}), json.dumps([1, 2]),
             json.dumps({k: v for k, v in good[3].items() if k != "title"}),
             json.dumps({**good[0], "title": "repeated id: the first line wins"}), json.dumps(good[4])]
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(lines) + "\n")
    lf = read_labels(path)
    assert [it.paper.arxiv_id for it in lf.papers] == [good[0]["arxiv_id"], good[4]["arxiv_id"]]
    assert lf.papers[0].paper.title == good[0]["title"]
    assert lf.duplicates == 1
    assert [p.split(": ")[0] for p in lf.problems] == [f"{path}:{n}" for n in (2, 3, 5, 6, 7)]
    assert "not valid JSON" in lf.problems[0] and "`relevance`" in lf.problems[1]
    assert "`date`" in lf.problems[2] and "`title`" in lf.problems[4]


@pytest.mark.parametrize("name,write", [("labels.jsonl", lambda p, data: p.write_bytes(data)),
                                        ("labels.jsonl.gz", lambda p, data: p.write_bytes(gzip.compress(data)))])
def test_a_line_that_is_not_utf8_is_skipped_with_its_number_the_rest_read(tmp_path, name, write):
    good = stream_rows(1)
    bad = json.dumps(good[1]).encode("utf-8").replace(b"(part 0)", b"(part \xc6)")
    data = b"\n".join([json.dumps(good[0]).encode(), bad, json.dumps(good[2]).encode()]) + b"\n"
    path = tmp_path / name
    write(path, data)
    lf = read_labels(path)
    assert [it.paper.arxiv_id for it in lf.papers] == [good[0]["arxiv_id"], good[2]["arxiv_id"]]
    assert lf.problems == [f"{path}:2: not UTF-8 (byte 0xc6 at column {bad.index(0xc6) + 1})"]


def test_unreadable_labels_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read labels file"):
        read_labels(tmp_path / "missing.jsonl")
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(ValueError, match="cannot read labels file"):
        read_labels(broken)


def test_day_auc_counts_positive_negative_pairs():
    rel = np.array([9, 8, 3, 1, 7])  # 7 is neither: ignored
    assert day_auc(np.array([5, 4, 3, 2, 9.0]), rel) == 1.0
    assert day_auc(np.array([1, 4, 3, 2, 0.0]), rel) == 0.5  # 2 of 4 pairs
    assert day_auc(np.array([1, 1, 1, 1, 1.0]), rel) == 0.5  # ties count half
    assert day_auc(np.array([1, 2.0]), np.array([9, 8])) is None  # no negative


def test_eval_json_has_exactly_the_documented_names(files, capsys):
    labels, criteria, cache = files
    argv = ["eval", "--labels", str(labels), "--criteria", str(criteria), "--score-from", "2025-03-02",
            "--top", "3", "--json", "--quiet", "--cache", str(cache)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"zero_shot", "with_feedback", "oracle_p_at_top", "random_p_at_top", "prefilter_recall",
                        "prefilter_sent", "caveats", "labels", "days", "papers", "seconds"}
    assert set(out["zero_shot"]) == set(out["with_feedback"]) == {"auc", "p_at_top"}
    assert set(out["labels"]) == {"pos", "neg"}
    assert out["days"] == 3 and out["papers"] == 40
    assert out["oracle_p_at_top"] == 1.0
    # The team sees 3 papers a day for 4 days and reacts to positives and negatives only.
    assert 0 < out["labels"]["pos"] + out["labels"]["neg"] <= 12
    for arm in ("zero_shot", "with_feedback"):
        assert 0.5 < out[arm]["auc"] <= 1.0
        assert 0 <= out[arm]["p_at_top"] <= 1.0
    # A second run finds every vector cached and gives the same figures.
    assert main(argv[:-2] + ["--cache", str(cache)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in out.items() if k != "seconds"}


def test_eval_text_report_and_cache_reuse(files, capsys):
    labels, criteria, cache = files
    argv = ["eval", "--labels", str(labels), "--criteria", str(criteria), "--quiet", "--cache", str(cache)]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "40 embedded now" in first and "with_feedback" in first and "oracle" in first
    assert main(argv) == 0
    assert "0 embedded now" in capsys.readouterr().out


def test_eval_reports_bad_lines_and_bad_inputs(files, tmp_path, capsys):
    labels, criteria, cache = files
    mixed = tmp_path / "mixed.jsonl"
    rows = stream_rows(2)
    mixed.write_text("\n".join([json.dumps(rows[0]), "oops"] + [json.dumps(r) for r in rows[1:]]) + "\n")
    assert main(["eval", "--labels", str(mixed), "--criteria", str(criteria), "--json", "--quiet",
                 "--cache", str(cache)]) == 0
    captured = capsys.readouterr()
    assert f"{mixed}:2: not valid JSON" in captured.err
    assert json.loads(captured.out)["papers"] == 20
    # Inputs that cannot work stop with a message naming what was wrong.
    assert main(["eval", "--labels", str(tmp_path / "nope.jsonl"), "--criteria", str(criteria)]) == 1
    assert "cannot read labels file" in capsys.readouterr().err
    assert main(["eval", "--labels", str(labels), "--criteria", str(tmp_path / "nope.txt")]) == 1
    assert f"criteria file {tmp_path / 'nope.txt'}: the file does not exist" in capsys.readouterr().err
    assert main(["eval", "--labels", str(labels), "--criteria", str(criteria), "--score-from", "2026-01-01",
                 "--cache", str(cache)]) == 1
    assert "--score-from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--labels", str(labels), "--criteria", str(criteria), "--score-from", "July"])
    assert "is not a date" in capsys.readouterr().err


@pytest.mark.parametrize("content,why", [(b"1. Robot learning\x00\x00\x00 and embodied AI\n", "looks binary"),
                                        (b"1. Robot learning \xc6 embodied AI\n", "is not UTF-8 text (byte 0xc6")])
def test_eval_reads_the_criteria_file_as_the_digest_does(files, tmp_path, capsys, content, why):
    labels, _, cache = files
    criteria = tmp_path / "binary.txt"
    criteria.write_bytes(content)
    assert main(["eval", "--labels", str(labels), "--criteria", str(criteria), "--quiet", "--cache", str(cache)]) == 1
    assert f"criteria file {criteria}: it {why}" in capsys.readouterr().err


def positives_with_author_matches(tmp_path):
    """Three days of robot papers, all positive (relevance 8-10), plus author-match rows that
    carry no scores: what the foundations stream looks like."""
    rows = []
    for d in range(3):
        for k, (title, abstract) in enumerate(ROBOT + OTHER):
            rows.append({"date": f"2025-03-0{d + 1}", "arxiv_id": f"2503.{d}{k:04d}", "title": f"{title} ({d})",
                         "authors": ["A. B"], "abstract": abstract, "relevance": 8 + (k % 3), "novelty": 5})
        rows.append({"date": f"2025-03-0{d + 1}", "arxiv_id": f"2503.{d}0099", "title": f"Safety report ({d})",
                     "authors": ["Yoshua Bengio"], "abstract": "A report.", "relevance": None, "novelty": None,
                     "comment": "Author match", "author_match": True})
    path = tmp_path / "positives.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    criteria = tmp_path / "criteria.txt"
    criteria.write_text(CRITERIA)
    return path, criteria


def test_eval_on_a_stream_without_negatives_says_the_numbers_mean_nothing(tmp_path, capsys):
    labels, criteria = positives_with_author_matches(tmp_path)
    argv = ["eval", "--labels", str(labels), "--criteria", str(criteria), "--quiet", "--top", "3",
            "--cache", str(tmp_path / "cache.sqlite")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    # The author-match rows are named in one line, not one warning each.
    skipped = [line for line in captured.err.splitlines() if "author-match" in line]
    assert len(skipped) == 1 and "3 author-match rows" in skipped[0] and "lines 11, 22, 33" in skipped[0]
    assert "warning" not in captured.err.replace(skipped[0], "")
    assert "no negatives" in captured.out and "cannot tell a good ranking from a bad one" in captured.out
    # A random ranking scores the same p@3 here: the report shows it next to the arms.
    random_row = next(line for line in captured.out.splitlines() if line.strip().startswith("random"))
    assert random_row.split()[-1] == "1.000"
    assert main(argv + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["zero_shot"]["auc"] is None and out["random_p_at_top"] == 1.0
    assert len(out["caveats"]) == 1 and "no negatives" in out["caveats"][0]


def test_eval_on_a_stream_with_both_kinds_has_no_caveat(files, capsys):
    labels, criteria, cache = files
    assert main(["eval", "--labels", str(labels), "--criteria", str(criteria), "--json", "--quiet", "--top", "3",
                 "--cache", str(cache)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["caveats"] == [] and out["random_p_at_top"] == 0.5 and out["oracle_p_at_top"] == 1.0
