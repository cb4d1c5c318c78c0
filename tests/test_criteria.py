"""Criteria text: parsed into topics for the local scorer, validated, versioned in SQLite."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot import criteria
from bot.db import open_db

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "prompts" / "criteria.txt"
LABELS = ROOT / "tests" / "fixtures" / "shared"  # copies of ../shared/data/labels/*.criteria.txt


@pytest.fixture
def db(tmp_path):
    return open_db(tmp_path / "c.sqlite")


def test_default_criteria_topics_and_keywords():
    c = criteria.parse(DEFAULT.read_text(encoding="utf-8"))
    assert [t.name for t in c.topics] == ["Representation Learning", "Model Architecture", "Model Compression",
                                          "Large Language Models (LLMs)", "AI for Science", "Emerging Trends"]
    compression = c.topics[2]
    assert compression.relevant.startswith("Sparsity, pruning, quantization")
    assert compression.irrelevant.startswith("Straightforward applications")
    assert compression.query.startswith("Model Compression: Sparsity")
    assert "Mixture of Experts" in c.keywords and "Pruning" in c.keywords  # "(MoE)" and "etc." dropped
    assert "etc" not in " ".join(c.keywords)
    # Irrelevant keywords and Application Work both count against a paper.
    assert "Reinforcement Learning" in c.negatives and "Medical Imaging" in c.negatives
    assert compression.irrelevant in c.negatives


def test_free_form_numbered_criteria_of_a_real_deployment():
    c = criteria.parse((LABELS / "vision-embodied.criteria.txt").read_text(encoding="utf-8"))
    names = [t.name for t in c.topics]
    assert len(names) == 5
    assert names[0].startswith("New methodological improvements to spatial understanding")
    assert not names[0].endswith(";")
    assert names[4].startswith("In suggesting papers to your friend")
    assert "clever statistical tricks" in names[4]  # the paragraph's second line is kept
    assert c.keywords == [] and c.negatives == []


def test_unstructured_text_uses_its_paragraphs():
    text = ("We like papers on sparse mixture-of-experts routing.\n\n"
            "Also anything about quantizing large language models to 4 bits or less.\n\nok")
    c = criteria.parse(text)
    assert [t.name for t in c.topics] == ["We like papers on sparse mixture-of-experts routing.",
                                          "Also anything about quantizing large language models to 4 bits or less."]


def test_numbered_topics_with_a_multi_line_name():
    c = criteria.parse("1. Papers on efficient\n   attention kernels\n2. Graph neural networks for chemistry\n")
    assert [t.name for t in c.topics] == ["Papers on efficient attention kernels", "Graph neural networks for chemistry"]


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("   \n\t", "empty"),
    ("too short", "too short (9 characters; at least 20)"),
    ("x" * (criteria.MAX_CHARS + 1), f"too long ({criteria.MAX_CHARS + 1} characters; at most {criteria.MAX_CHARS})"),
])
def test_validate_text_says_why(text, reason):
    assert reason in criteria.validate_text(text)


def test_validate_text_accepts_the_default():
    assert criteria.validate_text(DEFAULT.read_text(encoding="utf-8")) is None


def test_load_file_names_the_file(tmp_path):
    bad = tmp_path / "criteria.txt"
    bad.write_text("short", encoding="utf-8")
    with pytest.raises(ValueError, match=r"criteria file .*criteria\.txt: the criteria text is too short"):
        criteria.load_file(bad)


def test_current_seeds_version_one_from_the_file_once(db, tmp_path):
    path = tmp_path / "criteria.txt"
    path.write_text("1. Sparse mixture-of-experts routing\n", encoding="utf-8")
    first = criteria.current(db, path)
    assert first.version == 1 and first.topics[0].name == "Sparse mixture-of-experts routing"
    row = next(db.query("select * from criteria_versions"))
    assert row["created_by"] == "settings" and "criteria.txt" in row["note"]
    # Editing the file later does not replace what the team stored: the store is the truth.
    path.write_text("1. Something else entirely, about graphs\n", encoding="utf-8")
    assert criteria.current(db, path).version == 1
    assert criteria.current(db, path).text == "1. Sparse mixture-of-experts routing"
    assert db["criteria_versions"].count == 1


def test_save_version_adds_versions_and_skips_identical_text(db):
    v1 = criteria.save_version(db, "1. Sparse mixture-of-experts routing", created_by="U1")
    assert criteria.save_version(db, "1. Sparse mixture-of-experts routing\n\n", created_by="U2") == v1
    v2 = criteria.save_version(db, "1. Quantization of large language models", created_by="U2", note="from Slack")
    assert v2 == v1 + 1
    c = criteria.current(db, DEFAULT)
    assert (c.version, c.topics[0].name) == (v2, "Quantization of large language models")
    # Going back to an earlier text is a new version (the history stays linear).
    assert criteria.save_version(db, "1. Sparse mixture-of-experts routing", created_by="U1") == v2 + 1


def test_save_version_rejects_unusable_text_and_stores_nothing(db):
    with pytest.raises(ValueError, match="too short"):
        criteria.save_version(db, "MoE", created_by="U1")
    assert db["criteria_versions"].count == 0


def test_hostile_text_is_stored_verbatim(db):
    text = "1. Robust'); drop table papers; -- models\n   - Relevant: <!channel> & friends"
    v = criteria.save_version(db, text, created_by="U1")
    assert next(db.query("select text from criteria_versions where id = ?", [v]))["text"] == text
    assert "papers" in db.table_names()


def test_sha256_identifies_the_text():
    a, b = criteria.parse("1. Sparse routing in MoE layers"), criteria.parse("1. Sparse routing in MoE layers")
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    assert criteria.parse("1. Dense routing in MoE layers").sha256 != a.sha256


# --- the two query texts of the local scorer -----------------------------------------

def test_query_texts_split_what_is_wanted_from_what_is_not():
    q = criteria.query_texts(DEFAULT.read_text(encoding="utf-8"))
    # Topics with their Relevant lines, list numbers dropped, then prose, then keywords.
    assert q.positive.startswith("Representation Learning: Insights into how deep networks encode")
    assert "1." not in q.positive and "Irrelevant" not in q.positive
    assert q.positive.endswith("Keywords: Mixture of Experts (MoE), Representation Learning, Compression/Efficiency, "
                               "Sparse/Sparsity, Pruning, Quantization, Low-rank, Foundation Model")
    # "Keep relevant papers and filter out irrelevant ones." describes the task, not a topic.
    assert "filter out" not in q.positive and "filter out" not in q.negative
    # Irrelevant lines, "Avoid ..." prose, Irrelevant and Application Work keywords.
    assert q.negative.startswith("purely application-driven work Standard applications of known techniques")
    assert "Straightforward applications of existing compression methods" in q.negative
    assert "Reinforcement Learning" in q.negative and "Medical Imaging" in q.negative
    assert "Sparsity, pruning" not in q.negative and "etc" not in q.negative


def test_query_texts_without_negatives_and_without_structure():
    q = criteria.query_texts("1. Efficient attention kernels;\n2. Graph neural networks for chemistry\n\n"
                             "Also papers on (sparse, low-rank) adapters.")
    assert q.negative == ""
    assert q.positive == ("Efficient attention kernels; Graph neural networks for chemistry "
                          "Also papers on (sparse, low-rank) adapters.")
    assert criteria.query_texts("We like papers on sparse mixture-of-experts routing.").positive == \
        "We like papers on sparse mixture-of-experts routing."


def test_keyword_phrases_keep_brackets_whole_and_drop_etc():
    assert criteria.keyword_phrases("MoE, GNN (graph, mesh), or SSM; KV cache etc.") == \
        ["MoE", "GNN (graph, mesh)", "SSM", "KV cache"]


def test_query_texts_when_the_criteria_only_say_what_to_avoid_or_describe_the_task():
    only_avoid = criteria.query_texts("Avoid surgical robots and medical devices.")
    assert only_avoid.positive == "" and only_avoid.negative == "surgical robots and medical devices"
    # A task sentence is all there is: it is the query (not dropped for its "filter out").
    task = criteria.query_texts("Find papers on protein folding and filter out irrelevant ones.")
    assert task.positive == "Find papers on protein folding and filter out irrelevant ones." and task.negative == ""
