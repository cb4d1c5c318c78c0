"""Criteria text: parsed into topics for the local scorer, validated, versioned in SQLite."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot import criteria
from bot.db import open_db

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "prompts" / "criteria.txt"
LABELS_DIR = ROOT / "tests" / "fixtures" / "shared"  # copies of ../shared/data/labels/*.criteria.txt


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
    c = criteria.parse((LABELS_DIR / "vision-embodied.criteria.txt").read_text(encoding="utf-8"))
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
    with pytest.raises(criteria.ConfigError, match=r"criteria file .*criteria\.txt \(setting ranking\.criteria_file\): "
                                                   r"the criteria text is too short"):
        criteria.load_file(bad)


def test_current_seeds_version_one_from_the_file_once(db, tmp_path):
    path = tmp_path / "criteria.txt"
    path.write_text("1. Sparse mixture-of-experts routing\n", encoding="utf-8")
    first = criteria.current(db, path, feed="default")
    assert first.version == 1 and first.topics[0].name == "Sparse mixture-of-experts routing"
    row = next(db.query("select * from criteria_versions"))
    assert row["created_by"] == "settings" and row["note"] == f"from file {path}"
    assert (row["file_path"], row["file_sha256"]) == (str(path), row["sha256"])
    # A Slack view reads what is stored; only a run adopts a later edit of the file.
    _edit(path, "1. Something else entirely, about graphs\n")
    assert criteria.current(db, path, feed="default").version == 1 and db["criteria_versions"].count == 1


def _edit(path, text, age_seconds=0.0):
    """Write the criteria file, dated age_seconds ago (mtime decides which edit is the latest)."""
    import os
    import time

    path.write_text(text, encoding="utf-8")
    when = time.time() - age_seconds
    os.utime(path, (when, when))


def test_the_latest_edit_wins_whether_made_in_the_file_or_in_slack(db, tmp_path):
    path = tmp_path / "criteria.txt"
    _edit(path, "1. Sparse mixture-of-experts routing\n")
    crit, said = criteria.for_run(db, path, feed="default")
    assert crit.version == 1 and said == []
    # The file edited after the first run: the next run adopts it, says so once.
    _edit(path, "1. Quantization of large language models\n")
    assert criteria.file_status(db, path, feed="default") == "changed"
    crit, said = criteria.for_run(db, path, feed="default")
    assert crit.version == 2 and crit.topics[0].name == "Quantization of large language models"
    assert len(said) == 1 and "changed since it was last adopted" in said[0] and "version 2" in said[0]
    row = next(db.query("select * from criteria_versions where id = 2"))
    assert row["note"].startswith("from file") and row["created_by"] == "settings"
    assert criteria.for_run(db, path, feed="default") == (criteria.current(db, path, feed="default"), [])  # said once only
    # An edit in Slack after that wins: the unchanged file never overrides it.
    slack = criteria.save_version(db, "1. Graph neural networks for chemistry", created_by="U1", note="edited in Slack", feed="default")
    for _ in range(2):
        assert criteria.for_run(db, path, feed="default")[0].version == slack
    assert criteria.file_status(db, path, feed="default") == "adopted"
    # The file edited again: it wins again.
    _edit(path, "1. State space models for long sequences\n")
    crit, said = criteria.for_run(db, path, feed="default")
    assert crit.version == slack + 1 and crit.topics[0].name == "State space models for long sequences" and said


def test_a_file_edit_older_than_a_slack_edit_does_not_replace_it_and_the_run_says_so(db, tmp_path):
    path = tmp_path / "criteria.txt"
    _edit(path, "1. Sparse mixture-of-experts routing\n", age_seconds=3600)
    criteria.for_run(db, path, feed="default")
    _edit(path, "1. Quantization of large language models\n", age_seconds=600)  # saved, then...
    slack = criteria.save_version(db, "1. Graph neural networks for chemistry", created_by="U1", feed="default")  # ...this, later
    assert criteria.file_status(db, path, feed="default") == "older"
    crit, said = criteria.for_run(db, path, feed="default")
    assert crit == criteria.current(db, path, feed="default") and crit.version == slack and db["criteria_versions"].count == slack
    # Not silent: one warning naming the file, the newer version and the command that uses the file.
    assert len(said) == 1 and str(path) in said[0] and f"version {slack}" in said[0]
    assert f"python -m bot criteria --feed default set {path}" in said[0]


# A file whose text changed since it was last adopted, but dated before the current version
# (cp -p, rsync -a, tar, or ranking.criteria_file pointed at a file written earlier).
OLD_DATED_FILE_CASES = [
    # (what made the current version, the file's age in seconds when changed)
    ("the file", 600),
    ("the file", 10 * 86400),
    ("the seed", 600),
]


@pytest.mark.parametrize("made_by, age", OLD_DATED_FILE_CASES)
def test_a_changed_file_is_adopted_whatever_its_date_when_no_slack_edit_came_since(db, tmp_path, made_by, age):
    path = tmp_path / "criteria.txt"
    _edit(path, "1. Sparse mixture-of-experts routing\n", age_seconds=3600)
    criteria.for_run(db, path, feed="default")  # the seed, version 1
    if made_by == "the file":
        _edit(path, "1. Quantization of large language models\n")
        assert criteria.for_run(db, path, feed="default")[0].version == 2
    before = criteria.current(db, path, feed="default").version
    _edit(path, "1. State space models for long sequences\n", age_seconds=age)  # older than the current version
    assert criteria.file_status(db, path, feed="default") == "changed"
    crit, said = criteria.for_run(db, path, feed="default")
    assert crit.version == before + 1 and crit.topics[0].name == "State space models for long sequences"
    assert len(said) == 1 and "changed since it was last adopted" in said[0]
    assert criteria.for_run(db, path, feed="default") == (crit, [])  # adopted once


def test_a_file_that_says_what_the_current_version_says_adds_no_version(db, tmp_path):
    path = tmp_path / "criteria.txt"
    _edit(path, "1. Sparse mixture-of-experts routing\n")
    criteria.for_run(db, path, feed="default")
    slack = criteria.save_version(db, "1. Graph neural networks for chemistry", created_by="U1", feed="default")
    _edit(path, "1. Graph neural networks for chemistry\n\n")  # the file catches up with Slack
    assert criteria.for_run(db, path, feed="default") == (criteria.current(db, path, feed="default"), [])
    assert db["criteria_versions"].count == slack and criteria.file_status(db, path, feed="default") == "adopted"


def test_a_removed_criteria_file_keeps_the_stored_version_and_says_so(db, tmp_path):
    path = tmp_path / "criteria.txt"
    _edit(path, "1. Sparse mixture-of-experts routing\n")
    criteria.for_run(db, path, feed="default")
    path.unlink()
    crit, said = criteria.for_run(db, path, feed="default")
    assert crit.version == 1 and "does not exist" in said[0] and "ranking.criteria_file" in said[0]


def test_a_broken_edit_of_the_file_stops_the_run_naming_the_file(db, tmp_path):
    path = tmp_path / "criteria.txt"
    _edit(path, "1. Sparse mixture-of-experts routing\n")
    criteria.for_run(db, path, feed="default")
    path.write_bytes(b"\xc6\xc6 not text")
    with pytest.raises(criteria.ConfigError, match="not UTF-8 text"):
        criteria.for_run(db, path, feed="default")
    assert db["criteria_versions"].count == 1


def test_a_database_seeded_before_adoption_was_recorded_counts_the_seed_as_adopted(tmp_path):
    """Databases made before the file's adoption was recorded: the seeded version 1 counts as
    adopted, so the unchanged file never overrides a Slack edit made since."""
    from bot.db import migrate

    path = tmp_path / "criteria.txt"
    _edit(path, "1. Sparse mixture-of-experts routing\n", age_seconds=3600)
    old = open_db(tmp_path / "old.sqlite", apply_migrations=False)
    migrate(old)
    old.execute("delete from _migrations where name = 'm007_criteria_file_adoption'")
    with old.conn:
        old.execute("alter table criteria_versions drop column file_path")
        old.execute("alter table criteria_versions drop column file_sha256")
    text = path.read_text(encoding="utf-8").strip()
    old["criteria_versions"].insert({"text": text, "sha256": criteria._text_sha(text), "created_by": "settings",
                                     "created_at": "2025-01-01T00:00:00+00:00", "note": "seeded from criteria.txt"})
    old["criteria_versions"].insert({"text": "1. Graph neural networks for chemistry", "sha256": "x",
                                     "created_by": "U1", "created_at": "2025-01-02T00:00:00+00:00", "note": ""})
    _edit(path, text)  # touched (a fresh checkout) but not changed
    assert migrate(old) == ["m007_criteria_file_adoption"]
    assert criteria.for_run(old, path, feed="default")[0].version == 2


def test_save_version_adds_versions_and_skips_identical_text(db):
    v1 = criteria.save_version(db, "1. Sparse mixture-of-experts routing", created_by="U1", feed="default")
    assert criteria.save_version(db, "1. Sparse mixture-of-experts routing\n\n", created_by="U2", feed="default") == v1
    v2 = criteria.save_version(db, "1. Quantization of large language models", created_by="U2", note="from Slack", feed="default")
    assert v2 == v1 + 1
    c = criteria.current(db, DEFAULT, feed="default")
    assert (c.version, c.topics[0].name) == (v2, "Quantization of large language models")
    # Going back to an earlier text is a new version (the history stays linear).
    assert criteria.save_version(db, "1. Sparse mixture-of-experts routing", created_by="U1", feed="default") == v2 + 1


def test_save_version_rejects_unusable_text_and_stores_nothing(db):
    with pytest.raises(ValueError, match="too short"):
        criteria.save_version(db, "MoE", created_by="U1", feed="default")
    assert db["criteria_versions"].count == 0


def test_hostile_text_is_stored_verbatim(db):
    text = "1. Robust'); drop table papers; -- models\n   - Relevant: <!channel> & friends"
    v = criteria.save_version(db, text, created_by="U1", feed="default")
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


# --- the criteria file: errors that name it, and edits that are adopted ---------------

def _digest_with_criteria_file(tmp_path, criteria_path, capsys):
    """`python -m bot --settings F digest --sample` with ranking.criteria_file = criteria_path."""
    from bot.cli import main

    settings_file = tmp_path / "team.toml"
    settings_file.write_text(f'[ranking]\ncriteria_file = "{criteria_path}"\n'
                             f'[storage]\ndigest_dir = "{tmp_path / "digests"}"\n', encoding="utf-8")
    rc = main(["--settings", str(settings_file), "digest", "--sample", "--db", str(tmp_path / "t.sqlite"), "--quiet"])
    return rc, capsys.readouterr().err


def test_a_missing_criteria_file_names_the_file_and_the_setting(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    missing = tmp_path / "nowhere" / "criteria.txt"
    rc, err = _digest_with_criteria_file(tmp_path, missing, capsys)
    assert rc == 2 and err.startswith("configuration error:")
    assert str(missing) in err and "ranking.criteria_file" in err
    assert "does not exist" in err and "FileNotFoundError" not in err and "Errno" not in err


def test_a_binary_criteria_file_names_the_file_and_says_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    binary = tmp_path / "criteria.txt"
    binary.write_bytes(b"1. Sparse mixture-of-experts routing\n\xc6\x00\x01 and more")
    rc, err = _digest_with_criteria_file(tmp_path, binary, capsys)
    assert rc == 2 and err.startswith("configuration error:")
    assert str(binary) in err and "ranking.criteria_file" in err
    assert "not UTF-8 text" in err and "save it as plain UTF-8 text" in err and "codec" not in err
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"1. Sparse mixture-of-experts routing\x00\x00\x00")
    with pytest.raises(criteria.ConfigError, match=r"nul\.txt.*binary"):
        criteria.load_file(nul)


# --- what the criteria rule out, in the forms teams write ----------------------------
# (text, phrases the wanted query holds, phrases the unwanted query holds, topic names)
FORMS = [
    # A bare Irrelevant line, alone or around topics.
    ("- Irrelevant: Reinforcement Learning, robotics and medical imaging applications",
     [], ["Reinforcement Learning", "robotics and medical imaging applications"], []),
    ("Irrelevant: federated learning, robotics\n\n1. Efficient inference of language models\n2. Sparse attention",
     ["Efficient inference of language models", "Sparse attention"], ["federated learning", "robotics"],
     ["Efficient inference of language models", "Sparse attention"]),
    ("Relevant: quantization, pruning, distillation\nIrrelevant: federated learning, robotics",
     ["quantization", "pruning", "distillation"], ["federated learning", "robotics"],
     ["quantization, pruning, distillation"]),
    ("1. Diffusion models\n   - Relevant: score matching, flow matching\n\nIrrelevant: medical imaging, 3D vision",
     ["Diffusion models", "score matching"], ["medical imaging", "3D vision"], ["Diffusion models"]),
    ("1. Graph neural networks\n   - Not relevant: molecule property benchmarks\n2. Mixture of experts",
     ["Graph neural networks", "Mixture of experts"], ["molecule property benchmarks"],
     ["Graph neural networks", "Mixture of experts"]),
    # Bullets and numbered topics, with an exclusion in the topic itself.
    ("- Graph neural networks for chemistry\n- Protein structure prediction\n- No robotics",
     ["Graph neural networks for chemistry", "Protein structure prediction"], ["robotics"],
     ["Graph neural networks for chemistry", "Protein structure prediction"]),
    ("1. Diffusion models, but not for medical imaging\n2. Optimal transport",
     ["Diffusion models", "Optimal transport"], ["medical imaging"], ["Diffusion models", "Optimal transport"]),
    ("1. Robot learning\n   - grasping and manipulation\n   - not autonomous driving",
     ["Robot learning", "grasping and manipulation"], ["autonomous driving"], ["Robot learning"]),
    # Keyword blocks.
    ("Keywords:\n- Relevant: MoE, pruning\n- Irrelevant: reinforcement learning\n- Application Work: medical imaging",
     ["MoE", "pruning"], ["reinforcement learning", "medical imaging"], ["MoE, pruning"]),
    ("Don\u2019t care: robotics, RL\n\n1. Graph learning", ["Graph learning"], ["robotics", "RL"], ["Graph learning"]),
    # Sections that say what to avoid.
    ("## Interests\n- Sparse attention\n- KV cache compression\n\n## Not interested\n\n- federated learning\n- robotics",
     ["Sparse attention", "KV cache compression"], ["federated learning", "robotics"],
     ["Sparse attention", "KV cache compression"]),
    ("Interested in:\n- graph neural networks\n\nTopics to avoid:\n- federated learning\n- robotics\n\n"
     "Also causal inference.", ["graph neural networks", "causal inference"], ["federated learning", "robotics"],
     ["graph neural networks"]),
    # Prose.
    ("Not interested in federated learning.", [], ["federated learning"], []),
    ("We follow work on model compression and quantization. Not interested in federated learning.",
     ["model compression and quantization"], ["federated learning"],
     ["We follow work on model compression and quantization."]),
    ("We are not interested in federated learning. We like sparse attention.",
     ["sparse attention"], ["federated learning"], ["We like sparse attention."]),
    ("Papers on speech recognition. No robotics.", ["speech recognition"], ["robotics"],
     ["Papers on speech recognition."]),
    ("Causal inference. Avoid surveys and position papers.", ["Causal inference"], ["surveys and position papers"],
     ["Causal inference."]),
    ("Anything on diffusion models except medical imaging applications.",
     ["Anything on diffusion models"], ["medical imaging applications"], ["Anything on diffusion models"]),
    ("Large language models, excluding prompt engineering.", ["Large language models"], ["prompt engineering"],
     ["Large language models"]),
    ("Exclude federated learning. Include graph transformers.", ["graph transformers"], ["federated learning"],
     ["Include graph transformers."]),
    ("We study LLM interpretability; we don't care about benchmarks.", ["LLM interpretability"], ["benchmarks"],
     ["We study LLM interpretability"]),
    ("I don\u2019t care about leaderboard results. Show me new optimisers.", ["new optimisers"],
     ["leaderboard results"], ["Show me new optimisers."]),
    ("Skip reinforcement learning papers. Bayesian optimisation is our topic.",
     ["Bayesian optimisation"], ["reinforcement learning papers"], ["Bayesian optimisation is our topic."]),
    ("New optimisation theory rather than empirical tuning tricks.", ["New optimisation theory"],
     ["empirical tuning tricks"], ["New optimisation theory"]),
    ("Computer vision, but not autonomous driving.", ["Computer vision"], ["autonomous driving"], ["Computer vision"]),
    # A topic that starts with a gerund or with a noun that is also a verb wants that topic.
    ("1. Avoiding catastrophic forgetting in continual learning\n2. Skip connections and residual architectures",
     ["Avoiding catastrophic forgetting in continual learning", "Skip connections and residual architectures"], [],
     ["Avoiding catastrophic forgetting in continual learning", "Skip connections and residual architectures"]),
    ("- Skip connections and residual architectures\n- Drop path regularisation\n- No robotics",
     ["Skip connections and residual architectures", "Drop path regularisation"], ["robotics"],
     ["Skip connections and residual architectures", "Drop path regularisation"]),
    ("- Skip connections: residual and highway networks\n- Graph learning",
     ["residual and highway networks", "Graph learning"], [],
     ["Skip connections: residual and highway networks", "Graph learning"]),
    ("## Skip connections\n- residual networks\n- highway networks\n\n## Not interested\n- robotics",
     ["residual networks", "highway networks"], ["robotics"], ["residual networks", "highway networks"]),
    ("1. Graph learning\n   - Ignoring label noise in node classification\n   - not molecules",
     ["Graph learning", "Ignoring label noise in node classification"], ["molecules"], ["Graph learning"]),
    ("Robotics papers are out of scope. Time series forecasting.", ["Time series forecasting"], ["Robotics papers"],
     ["Time series forecasting."]),
    # A trailing "... is out of scope" rules out its own clause, not the sentence it ends.
    ("We follow diffusion models, robotics is out of scope.", ["diffusion models"], ["robotics"],
     ["We follow diffusion models"]),
    ("We follow diffusion models and generative image models; robotics and reinforcement learning are out of scope.",
     ["diffusion models and generative image models"], ["robotics and reinforcement learning"],
     ["We follow diffusion models and generative image models"]),
    ("Graph learning - robotics is not relevant.", ["Graph learning"], ["robotics"], ["Graph learning"]),
    ("We like graph learning but robotics is irrelevant.", ["graph learning"], ["robotics"], ["We like graph learning"]),
    ("Diffusion models matter, whereas robotics is not of interest.", ["Diffusion models matter"], ["robotics"],
     ["Diffusion models matter"]),
    ("Graph learning while robotics is not wanted.", ["Graph learning"], ["robotics"], ["Graph learning"]),
    ("Causal inference: surveys are not wanted.", ["Causal inference"], ["surveys"], ["Causal inference"]),
    ("1. Diffusion models (robotics is out of scope)\n2. Graph learning", ["Diffusion models", "Graph learning"],
     ["robotics"], ["Diffusion models", "Graph learning"]),
    ("Interpretability, while important, is out of scope. Graph learning.", ["Graph learning"], ["Interpretability"],
     ["Graph learning."]),
    ("1. Diffusion models\n   - Relevant: fast sampling; robotics is out of scope\n2. Graph learning",
     ["Diffusion models: fast sampling", "Graph learning"], ["robotics"], ["Diffusion models", "Graph learning"]),
    ("Robotics is out of scope, but we like graph learning.", ["graph learning"], ["Robotics"], ["we like graph learning."]),
    # Other ways to say what to avoid.
    ("Anything but robotics.", [], ["robotics"], []),
    ("Everything except medical imaging.", [], ["medical imaging"], []),
    ("Papers on LLMs, with the exception of medical imaging.", ["LLMs"], ["medical imaging"], ["Papers on LLMs"]),
    ("Exclusions\n- robotics\n- medical imaging\n\n1. Graph learning", ["Graph learning"],
     ["robotics", "medical imaging"], ["Graph learning"]),
    ("**Exclusions**\n- robotics\n\n1. Graph learning", ["Graph learning"], ["robotics"], ["Graph learning"]),
    ("Topics to avoid\n- robotics\n\nGraph learning.", ["Graph learning"], ["robotics"], ["Graph learning."]),
    ("Blacklist: robotics, medical imaging\n\n1. Graph learning", ["Graph learning"], ["robotics", "medical imaging"],
     ["Graph learning"]),
    ("NOT: robotics\n\n1. Graph learning", ["Graph learning"], ["robotics"], ["Graph learning"]),
    ("Robotics: no.\n\n1. Graph learning", ["Graph learning"], ["Robotics"], ["Graph learning"]),
    ("Robotics - no thanks.\n\n1. Graph learning", ["Graph learning"], ["Robotics"], ["Graph learning"]),
    ("- Graph learning\n- Robotics: no", ["Graph learning"], ["Robotics"], ["Graph learning"]),
    ("1. Graph learning\n2. Not: robotics\n3. Sparse attention", ["Graph learning", "Sparse attention"], ["robotics"],
     ["Graph learning", "Sparse attention"]),
    ("**Irrelevant:** robotics\n\n1. Graph learning", ["Graph learning"], ["robotics"], ["Graph learning"]),
    # A numbered topic whose label only looks negative is a topic; any script is a topic.
    ("1. Applications: protein design\n2. No-regret learning: bandits\n3. Negative sampling: hard negatives",
     ["protein design", "bandits", "hard negatives"], [],
     ["Applications: protein design", "No-regret learning: bandits", "Negative sampling: hard negatives"]),
    ("拡散モデルによる画像生成, but not robotics.",
     ["拡散モデルによる画像生成"], ["robotics"],
     ["拡散モデルによる画像生成"]),
    # A wanted label outside any topic is read clause by clause, as a topic's Relevant line is.
    ("Relevant: causal inference, but not econometrics", ["causal inference"], ["econometrics"],
     ["causal inference"]),
    ("Topics: causal inference, not econometrics", ["causal inference"], ["econometrics"], ["causal inference"]),
    ("Interests: diffusion models, but not for medical imaging; graph learning",
     ["diffusion models", "graph learning"], ["medical imaging"], ["diffusion models; graph learning"]),
    ("- Relevant: fast sampling; robotics is out of scope", ["fast sampling"], ["robotics"], ["fast sampling"]),
    ("## Topics\n- Relevant: diffusion models except medical imaging", ["diffusion models"], ["medical imaging"],
     ["diffusion models"]),
    ("1. Diffusion models\n   - Relevant: fast samplers, but not for medical imaging; flow matching",
     ["fast samplers", "flow matching"], ["medical imaging"], ["Diffusion models"]),
    # A short topic is still a topic once its exclusion is taken off.
    ("GNNs, but not chemistry.", ["GNNs"], ["chemistry"], ["GNNs"]),
    # A negation ends at a clause boundary and at a turn to what is wanted: what follows is wanted.
    ("No interest in reinforcement learning; we focus on mixture-of-experts and model compression.",
     ["mixture-of-experts and model compression"], ["reinforcement learning"],
     ["we focus on mixture-of-experts and model compression."]),
    ("We avoid RL and focus on causal inference.", ["causal inference"], ["RL"], ["focus on causal inference."]),
    ("Not interested in RL, only in causal inference.", ["causal inference"], ["RL"], ["causal inference."]),
    ("No robotics, just causal inference.", ["causal inference"], ["robotics"], ["causal inference."]),
    ("No robotics, but we like causal inference.", ["causal inference"], ["robotics"], ["we like causal inference."]),
    ("No robotics; rather causal inference.", ["causal inference"], ["robotics"], ["causal inference."]),
    ("Not interested in robotics, instead graph learning.", ["graph learning"], ["robotics"], ["graph learning."]),
    ("We don't want robotics, we want causal inference.", ["causal inference"], ["robotics"],
     ["we want causal inference."]),
    # Labels anywhere: two on one line, one after a sentence, a sentence after a label's body.
    ("Relevant: LLM reasoning; Irrelevant: robotics", ["LLM reasoning"], ["robotics"], ["LLM reasoning"]),
    ("Irrelevant: robotics; Relevant: LLM reasoning", ["LLM reasoning"], ["robotics"], ["LLM reasoning"]),
    ("Causal inference. Out of scope: quantum computing.", ["Causal inference"], ["quantum computing"],
     ["Causal inference."]),
    ("Topics: LLM reasoning. Stay away from robotics papers.", ["LLM reasoning"], ["robotics papers"],
     ["LLM reasoning."]),
    ("Causal inference.\nNope: robotics\nNo-go: quantum computing\nWhat we do not want: medical imaging",
     ["Causal inference"], ["robotics", "quantum computing", "medical imaging"], ["Causal inference."]),
    ("Causal inference. Less interested in robotics. Deprioritize quantum computing.", ["Causal inference"],
     ["robotics", "quantum computing"], ["Causal inference."]),
    # A list item marked as ruled out, an exclusion in brackets or after a dash.
    ("* LLM reasoning\n* Robotics (irrelevant)", ["LLM reasoning"], ["Robotics"], ["LLM reasoning"]),
    ("+ causal inference\n- time series (exclude)", ["causal inference"], ["time series"], ["causal inference"]),
    ("LLM reasoning (excluding robotics)", ["LLM reasoning"], ["robotics"], ["LLM reasoning"]),
    ("1. Diffusion models (w/o robotics)\n2. Graph learning", ["Diffusion models", "Graph learning"], ["robotics"],
     ["Diffusion models", "Graph learning"]),
    ("Graph learning minus robotics.", ["Graph learning"], ["robotics"], ["Graph learning"]),
    ("Graph learning \u2014 not molecules.", ["Graph learning"], ["molecules"], ["Graph learning"]),
    ("Graph learning\u2013not molecules.", ["Graph learning"], ["molecules"], ["Graph learning"]),
    # Prose that rules out after what it wants, or on its own.
    ("Causal inference but nothing on quantum computing.", ["Causal inference"], ["quantum computing"],
     ["Causal inference"]),
    ("Graph learning and nothing about robotics.", ["Graph learning"], ["robotics"], ["Graph learning"]),
    ("Causal inference. Without quantum computing.", ["Causal inference"], ["quantum computing"],
     ["Causal inference."]),
    ("Causal inference. Robotics papers should be excluded.", ["Causal inference"], ["Robotics papers"],
     ["Causal inference."]),
    ("Mixture of experts, RL excluded.", ["Mixture of experts"], ["RL"], ["Mixture of experts"]),
    # A heading that says what to avoid, with no colon (often in capitals), rules out the lines under it.
    ("LLM reasoning.\n\nNOT INTERESTED IN\nrobotics\nRL", ["LLM reasoning"], ["robotics", "RL"], ["LLM reasoning."]),
    ("LLM reasoning.\n\nNOT INTERESTED IN:\nrobotics\nRL", ["LLM reasoning"], ["robotics", "RL"], ["LLM reasoning."]),
    ("LLM reasoning.\n\nEXCLUDE\nrobotics", ["LLM reasoning"], ["robotics"], ["LLM reasoning."]),
]
# Not exclusions: the words appear, the meaning is wanted.
WANTED_ONLY = [
    "Not only transformers but also state space models.",
    "Methods that need no labels, such as self-supervised learning.",
    "No-regret online learning and bandits.",
    "Robots that avoid obstacles while navigating crowds.",
    "Training without backpropagation.",
    "Find papers on protein folding and filter out irrelevant ones.",
    "Avoiding catastrophic forgetting in continual learning.",
    "Skip connections and residual architectures.",
    "Excluding confounders from causal effect estimates.",
    "Everything about graph neural networks.",
    "Exclusion restrictions in instrumental variable estimation.",
    "Proofs without induction and the minus sign in Lie algebras.",
    "Models that are excluded from nothing: universal approximation.",
    "No-regret learning: bandits and online convex optimisation.",
]
LABELS = ("irrelevant", "relevant:", "not relevant", "application work", "keywords")


@pytest.mark.parametrize("text, wanted, unwanted, names", FORMS, ids=[f[0][:40] for f in FORMS])
def test_criteria_forms_split_what_is_wanted_from_what_is_ruled_out(text, wanted, unwanted, names):
    q = criteria.query_texts(text)
    assert "**" not in q.positive + q.negative  # markdown emphasis around a label is not text
    for phrase in wanted:
        assert phrase in q.positive and phrase not in q.negative
    for phrase in unwanted:
        assert phrase in q.negative and phrase not in q.positive
    c = criteria.parse(text)
    assert [t.name for t in c.topics] == names
    for topic in c.topics:
        assert not any(label in topic.name.lower() for label in LABELS)
        assert not any(phrase.lower() in topic.query.lower() for phrase in unwanted)
    # The terms a paper's comment can name as ruled out come from the same reading.
    ruled_out = " ".join(c.negatives).lower()
    assert all(word in ruled_out for phrase in unwanted for word in phrase.lower().split() if len(word) > 3)


@pytest.mark.parametrize("text", WANTED_ONLY)
def test_negative_words_that_do_not_rule_anything_out(text):
    q = criteria.query_texts(text)
    assert q.positive == text and q.negative == ""
    assert criteria.parse(text).negatives == []


def test_a_label_is_never_part_of_a_topic_name():
    texts = [f[0] for f in FORMS] + [DEFAULT.read_text(encoding="utf-8"),
                                     (LABELS_DIR / "vision-embodied.criteria.txt").read_text(encoding="utf-8")]
    for text in texts:
        for topic in criteria.parse(text).topics:
            assert not topic.name.lstrip().startswith(("-", "*")), topic.name
            assert "irrelevant" not in topic.name.lower(), topic.name


# --- how a topic is named in a paper's comment -----------------------------------------
# (criteria text, the label of its first topic): the topic, not the sentence that asks for it.
TOPIC_LABELS = [
    ("We want papers on graph neural networks and message passing.", "Graph neural networks and message passing"),
    ("I'm interested in sparse attention for long documents.", "Sparse attention for long documents"),
    ("I am interested in protein structure prediction.", "Protein structure prediction"),
    ("Papers about protein folding and molecular dynamics.", "Protein folding and molecular dynamics"),
    ("We follow work on model compression and quantization.", "Model compression and quantization"),
    ("We like papers on sparse mixture-of-experts routing.", "Sparse mixture-of-experts routing"),
    ("Also anything about quantizing large language models to 4 bits.", "Quantizing large language models to 4 bits"),
    ("Our team is interested in research on causal discovery.", "Causal discovery"),
    ("1. Papers on efficient\n   attention kernels", "Efficient attention kernels"),
    ("1. Representation Learning\n   - Relevant: sparse coding", "Representation Learning"),
    ("1. kNN retrieval for language models", "kNN retrieval for language models"),
    # Nothing but a lead-in: the sentence stays as written.
    ("Interested in causal discovery from time series.", "Causal discovery from time series"),
    ("We like graph learning on molecules.", "Graph learning on molecules"),
    ("We like papers on everything.", "We like papers on everything"),
    ("In suggesting papers to your friend, remember that he enjoys computer vision.",
     "In suggesting papers to your friend, remember that he enjoys computer vision"),
]


@pytest.mark.parametrize("text, label", TOPIC_LABELS, ids=[t[0][:40] for t in TOPIC_LABELS])
def test_a_topic_is_named_without_the_sentence_that_asks_for_it(text, label):
    topic = criteria.parse(text).topics[0]
    assert topic.label == label


@pytest.fixture(scope="module")
def embedder():
    from bot.embed import Embedder

    model = Embedder()
    model.load()
    return model


def _score_locally(tmp_path, embedder, text: str, rows):
    """The real local scorer on papers made of (title, abstract) rows: (papers, result)."""
    from bot.embed import EmbeddingCache
    from bot.models import Paper
    from bot.scoring.local import LocalScorer

    day = [Paper(arxiv_id=f"2501.{i:05d}", title=t, authors=["A. Author"], abstract=a) for i, (t, a) in enumerate(rows)]
    cache = EmbeddingCache(open_db(tmp_path / "t.sqlite"), embedder)
    return day, LocalScorer(cache).score(day, criteria.parse(text), "2025-02-24")


def test_the_local_scorer_comment_names_the_topic_of_a_one_sentence_criteria(tmp_path, embedder):
    day, result = _score_locally(tmp_path, embedder, "We want papers on graph neural networks and message passing.", [
        ("Message passing on molecular graphs", "A graph neural network predicts molecular properties."),
        ("Sparse attention for long documents", "We sparsify transformer attention for 100k-token inputs."),
    ] * 6)
    comment = result.scores[day[0].arxiv_id].comment
    assert comment.startswith("Closest criteria topic: Graph neural networks and message passing."), comment
    assert "We want" not in comment


def test_a_sentence_that_ends_by_ruling_a_topic_out_still_wants_its_first_clause(tmp_path, embedder):
    text = ("We follow diffusion models and generative image models; robotics and reinforcement learning "
            "are out of scope.")
    diffusion = [("Faster sampling for diffusion models", "A new sampler for image diffusion models needs 4 steps."),
                 ("Generative image models with flow matching", "Flow matching trains a generative image model.")]
    robotics = [("Reinforcement learning for legged robots", "A robot learns to walk with reinforcement learning."),
                ("Robot grasping from demonstrations", "A robot arm learns grasps from human demonstrations.")]
    others = [("Query optimisation in column stores", "A cost model picks join orders for analytical databases."),
              ("Byzantine consensus with fewer messages", "A consensus protocol for replicated state machines."),
              ("Type inference for gradual typing", "We infer types for partially typed Python programs."),
              ("Compressed sensing with structured matrices", "Recovery guarantees for sparse signals."),
              ("Speech recognition for low-resource languages", "Self-training improves word error rates."),
              ("Auction design with budget constraints", "Revenue-optimal auctions for budgeted bidders."),
              ("Cache-oblivious sorting", "A sorting algorithm with optimal cache misses at every level."),
              ("Topic models for legal documents", "Latent Dirichlet allocation applied to court rulings.")]
    day, result = _score_locally(tmp_path, embedder, text, diffusion + robotics + others * 2)
    assert not any("only say what to avoid" in note for note in result.notes)
    rel = {p.title: result.scores[p.arxiv_id].relevance for p in day}
    assert min(rel[t] for t, _ in diffusion) > max(rel[t] for t, _ in robotics)
    assert min(rel[t] for t, _ in diffusion) >= 7  # picked at the default threshold


def test_a_file_saved_half_a_second_before_a_slack_edit_in_the_same_second_is_older(db, tmp_path):
    """Which edit is the latest is decided to the sub-second, as the file's date is: a file
    saved 0.5 s before an edit in Slack loses to it even when both fall in the same second."""
    import os
    import time

    path = tmp_path / "criteria.txt"
    _edit(path, "1. Sparse mixture-of-experts routing\n", age_seconds=3600)
    criteria.for_run(db, path, feed="default")
    time.sleep((1.7 - time.time() % 1) % 1)  # 0.7 s into a second: 0.5 s earlier is the same second
    saved = time.time() - 0.5
    path.write_text("1. Quantization of large language models\n", encoding="utf-8")
    os.utime(path, (saved, saved))
    slack = criteria.save_version(db, "1. Graph neural networks for chemistry", created_by="U1", feed="default")
    assert criteria.file_status(db, path, feed="default") == "older"
    crit, said = criteria.for_run(db, path, feed="default")
    assert crit.version == slack and len(said) == 1 and f"version {slack}" in said[0]
