"""The local scorer's relevance: criteria split into wanted / unwanted query texts, moved
onto the papers by corpus prototypes, standardised against the corpus (earlier days too).
Real MiniLM model, real SQLite store."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bot import criteria as criteria_mod
from bot.db import open_db
from bot.embed import EmbeddingCache
from bot.scoring.local import LocalScorer, comment, prototype, prototype_size
from bot.store import save_papers
from tests.scorer_fixtures import cache, db, model, papers  # noqa: F401 (fixtures by name)

ROOT = Path(__file__).resolve().parent.parent

CRITERIA = criteria_mod.parse(
    "1. Robot grasping and manipulation\n"
    "   - Relevant: grasp planning, dexterous hands, learning manipulation policies for robot arms.\n"
    "   - Irrelevant: surgical robots and medical devices.\n")

GRASP = [
    ("Learning dexterous grasps for multi-fingered hands", "We train a grasp planner for a five-finger robot hand."),
    ("Grasp pose detection in clutter", "A network predicts six-DoF grasp poses for a robot arm picking objects."),
    ("Tactile feedback for robotic manipulation", "Touch sensors improve pick-and-place success of a robot gripper."),
    ("Imitation learning of manipulation policies", "Robot arms learn to fold cloth and stack blocks from demonstrations."),
    ("Suction and parallel-jaw grasping benchmark", "We compare grippers on a benchmark of 500 household objects."),
    ("Reinforcement learning for in-hand rotation", "A dexterous hand learns to rotate objects in its palm."),
    ("Language-conditioned pick and place", "A robot manipulator follows instructions to move objects on a table."),
    ("Grasping transparent objects with depth completion", "Depth completion lets a robot grasp glass cups."),
    ("Bimanual manipulation with two robot arms", "Two arms coordinate to open jars and lift boxes."),
    ("Sim-to-real transfer of grasping policies", "Domain randomisation transfers grasping from simulation to a real arm."),
]
SURGICAL = [
    ("Autonomous suturing with a surgical robot", "A surgical robot ties sutures on tissue phantoms."),
    ("Force control for robotic catheter insertion", "A medical device robot steers catheters through vessels."),
    ("Surgical instrument tracking in endoscopy", "We track the tools of a surgical robot in endoscopic video."),
]
OTHER = [
    ("Contract clause classification with language models", "We classify clauses in legal contracts."),
    ("Exoplanet detection from light curves", "A convolutional network finds planets in telescope photometry."),
    ("Forecasting electricity demand", "Gradient boosting predicts hourly load of a power grid."),
    ("Sentiment of financial news", "We measure how news sentiment moves stock prices."),
    ("Protein secondary structure prediction", "A transformer predicts helices and sheets from sequences."),
    ("Speech recognition for low-resource languages", "Self-supervised audio models transcribe rare languages."),
    ("Traffic flow prediction with graph networks", "Road sensors and a graph network forecast congestion."),
    ("Poetry generation with rhyme constraints", "A language model writes rhyming verse."),
    ("Crop yield estimation from satellite images", "Satellite imagery predicts wheat yields per field."),
    ("Detecting fraud in card transactions", "Anomaly detection flags fraudulent payments."),
]


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Share of (positive, negative) pairs ordered right."""
    return float((pos[:, None] > neg[None, :]).mean())


def relevance_of(result, ps):
    return [result.scores[p.arxiv_id].relevance for p in ps]


def raw_of(result, ps):
    return np.array([result.scores[p.arxiv_id].raw for p in ps])


def test_wanted_papers_rank_above_unwanted_and_unrelated(cache):
    grasp, surgical, other = papers("2501", GRASP), papers("2502", SURGICAL), papers("2503", OTHER)
    day = grasp + surgical + other
    result = LocalScorer(cache).score(day, CRITERIA, "2025-02-24")
    g, s, o = raw_of(result, grasp), raw_of(result, surgical), raw_of(result, other)
    assert auc(g, o) >= 0.85 and g.mean() > o.mean() + 0.5
    # Robots, but what the criteria's Irrelevant line names: below the grasping papers.
    assert auc(g, s) >= 0.85
    assert np.mean(relevance_of(result, grasp)) > np.mean(relevance_of(result, other)) + 1
    best = result.scores[grasp[0].arxiv_id]
    assert best.comment.startswith("Closest criteria topic: Robot grasping and manipulation")
    assert best.source == "local" and 1 <= best.relevance <= 10 and 1 <= best.novelty <= 10


def test_the_irrelevant_line_pushes_its_papers_down(cache):
    grasp, surgical, other = papers("2501", GRASP), papers("2502", SURGICAL), papers("2503", OTHER)
    day = grasp + surgical + other
    without = criteria_mod.parse("1. Robot grasping and manipulation\n"
                                 "   - Relevant: grasp planning, dexterous hands, learning manipulation "
                                 "policies for robot arms.\n")
    with_neg = LocalScorer(cache).score(day, CRITERIA, "2025-02-24")
    no_neg = LocalScorer(cache).score(day, without, "2025-02-24")
    rank = lambda r: {pid: i for i, pid in enumerate(sorted(r.scores, key=lambda k: -r.scores[k].raw))}
    r_with, r_without = rank(with_neg), rank(no_neg)
    assert sum(r_with[p.arxiv_id] for p in surgical) > sum(r_without[p.arxiv_id] for p in surgical)


def test_a_weak_day_stays_weak_against_the_stored_earlier_days(db, cache, tmp_path):
    """The corpus holds the earlier days' papers from the store: a day with nothing on topic
    gets low relevance, where scored alone its best paper would look like a pick."""
    earlier = papers("2501", GRASP) + papers("2502", OTHER[:5])
    save_papers(db, "2025-02-20", earlier)
    LocalScorer(cache).score(earlier, CRITERIA, "2025-02-20")  # embeds and caches them, as a run does
    weak_day = papers("2503", OTHER[5:] + SURGICAL)
    fresh_store = EmbeddingCache(open_db(tmp_path / "fresh.sqlite"), cache.embedder)
    alone = LocalScorer(fresh_store).score(weak_day, CRITERIA, "2025-02-24")
    with_history = LocalScorer(cache).score(weak_day, CRITERIA, "2025-02-24")
    assert max(relevance_of(with_history, weak_day)) < max(relevance_of(alone, weak_day))
    assert max(relevance_of(with_history, weak_day)) < 7  # the default pick threshold
    # Only days before the scored one count: scoring the earlier day again ignores the later one.
    save_papers(db, "2025-02-24", weak_day)
    again = LocalScorer(cache).score(earlier, CRITERIA, "2025-02-20")
    first = LocalScorer(cache, history_vecs=np.zeros((0, 384), np.float32)).score(earlier, CRITERIA, "2025-02-20")
    assert np.allclose(raw_of(again, earlier), raw_of(first, earlier))


def test_history_is_read_from_the_cache_only_never_embedded(db, cache):
    save_papers(db, "2025-02-20", papers("2501", GRASP))  # stored but never scored: not cached
    before = cache.embedder.embedded
    day = papers("2503", OTHER)
    LocalScorer(cache).score(day, CRITERIA, "2025-02-24")
    # The day, and the criteria's positive and negative texts (its one topic is the positive text).
    assert cache.embedder.embedded - before == len(day) + 2


def test_prototype_is_the_unit_mean_of_the_nearest_papers():
    corpus = np.eye(4, dtype=np.float32)[[0, 0, 1, 2, 3]]
    proto = prototype(np.array([1, 0.5, 0, 0], np.float32), corpus, 3)
    assert np.allclose(proto, np.array([2, 1, 0, 0]) / np.sqrt(5))
    assert prototype_size(365) == 10 and prototype_size(5000) == 50
    assert prototype_size(23) == 2 and prototype_size(5) == 1  # a small first day


def test_comment_names_the_topic_and_the_criteria_terms_a_paper_mentions(cache):
    from bot.scoring.local import criteria_terms

    seed_criteria = criteria_mod.parse((ROOT / "prompts" / "criteria.txt").read_text(encoding="utf-8"))
    wanted, unwanted = criteria_terms(seed_criteria)
    assert {"KV cache", "Quantization", "Mixture of Experts"} <= set(wanted)
    assert "other architectural innovations" not in wanted and "feature" not in wanted  # too vague to explain
    assert {"Spatial Modeling", "Temporal Modeling", "Medical Imaging"} <= set(unwanted) and "Spatial" not in unwanted
    day = papers("2504", [
        ("Adaptive KV cache quantization for long-context LLMs",
         "We quantize the KV cache of transformers to 2 bits with a per-channel scheme."),
        ("Pruning segmentation networks for medical imaging",
         "Structured pruning speeds up U-Nets for medical imaging on edge devices."),
    ] + OTHER)
    result = LocalScorer(cache).score(day, seed_criteria, "2025-02-24")
    kv, med = result.scores[day[0].arxiv_id].comment, result.scores[day[1].arxiv_id].comment
    assert kv.startswith("Closest criteria topic: Model Compression.")
    assert "Mentions KV cache, Quantization" in kv and "rule out" not in kv
    # A ruled-out term is weighed in the score, not a verdict: a pick that mentions one is not told it is ruled out.
    assert "Mentions Pruning" in med and "Also touches Medical Imaging (ruled out), weighed in its score." in med
    assert not any("criteria rule out" in s.comment for s in result.scores.values())


def test_criteria_that_only_say_what_to_avoid_never_make_a_confident_pick(cache):
    avoid = criteria_mod.parse("Avoid surgical robots and medical devices.")
    grasp, surgical, other = papers("2501", GRASP), papers("2502", SURGICAL), papers("2503", OTHER)
    day = grasp + surgical + other
    result = LocalScorer(cache).score(day, avoid, "2025-02-24")
    assert max(s.relevance for s in result.scores.values()) <= 5  # below any sensible pick threshold
    assert any("only say what to avoid" in n for n in result.notes)
    # What they avoid still ranks lowest.
    assert raw_of(result, surgical).max() < np.median(raw_of(result, grasp + other))


FEDERATED = [
    ("Communication-efficient federated learning with client sampling",
     "Clients train locally and a server aggregates their updates without sharing data."),
    ("Personalized federated learning under non-IID data", "We personalise federated models for heterogeneous clients."),
    ("Differential privacy for federated averaging", "We add noise to client updates in federated averaging."),
    ("Byzantine-robust aggregation in federated learning",
     "Robust aggregation defends a federated server against malicious clients."),
    ("Federated fine-tuning of large language models on edge devices",
     "Phones fine-tune an LLM together with federated updates."),
    ("Decentralised multi-agent reinforcement learning with communication",
     "Agents learn cooperative policies and share messages over a network."),
]
COMPRESSION = [
    ("4-bit quantization of large language models", "Post-training quantization keeps accuracy of LLMs at 4 bits."),
    ("Structured pruning of transformers", "We prune attention heads and MLP channels with little loss."),
    ("Knowledge distillation for compact students", "A small network learns from a large teacher's logits."),
    ("Low-rank adapters for efficient fine-tuning", "Low-rank factorisation shrinks the trainable parameters."),
    ("KV cache compression for long contexts", "We quantize and evict cache entries to cut memory."),
    ("Sparse mixture of experts at inference", "Routing tokens to few experts reduces compute."),
]
MEDICAL = [
    ("A foundation model for MRI reconstruction", "A pretrained transformer reconstructs undersampled MRI scans of the brain."),
    ("Tumour segmentation in CT scans", "A U-Net segments tumours in medical imaging data."),
    ("Chest X-ray report generation", "A vision-language model writes radiology reports."),
]


def _picks(result, day):
    from bot.pipeline import rank

    return {pk.paper.arxiv_id for pk in rank(day, result.scores, {}, min_relevance=7, min_novelty=1, max_papers=30)}


@pytest.mark.parametrize("text", [
    "Not interested in federated learning.",
    "Model compression: quantization, pruning and distillation of neural networks. Not interested in federated learning.",
    "Efficient deep learning. We are not interested in federated learning.",
    "1. Efficient deep learning\n   - Relevant: quantization, pruning\n\n- Irrelevant: federated learning",
])
def test_criteria_that_rule_a_topic_out_never_pick_it(cache, text):
    fl, comp, other = papers("2601", FEDERATED), papers("2602", COMPRESSION), papers("2604", OTHER + GRASP)
    day = fl + comp + other
    result = LocalScorer(cache).score(day, criteria_mod.parse(text), "2026-01-05")
    assert not _picks(result, day) & {p.arxiv_id for p in fl}
    assert raw_of(result, fl).mean() < np.median(raw_of(result, day))  # ranked low, not just unpicked
    if "compression" in text.lower() or "efficient" in text.lower():
        assert raw_of(result, fl).max() < raw_of(result, comp).mean()


@pytest.mark.parametrize("text", [
    "- Irrelevant: Reinforcement Learning, robotics and medical imaging applications",
    "Foundation models and efficient deep learning.\n"
    "- Irrelevant: Reinforcement Learning, robotics and medical imaging applications",
    "1. Model compression\n   - Relevant: quantization, pruning, KV cache\n\n"
    "- Irrelevant: Reinforcement Learning, robotics and medical imaging applications",
])
def test_a_bare_irrelevant_line_rules_its_papers_out_and_is_never_a_topic(cache, text):
    med, comp, other, robots = papers("2603", MEDICAL), papers("2602", COMPRESSION), papers("2604", OTHER), \
        papers("2605", GRASP)
    day = med + comp + other + robots
    result = LocalScorer(cache).score(day, criteria_mod.parse(text), "2026-01-05")
    assert not _picks(result, day) & {p.arxiv_id for p in med + robots}
    assert raw_of(result, robots).mean() < raw_of(result, other).mean() - 0.5
    assert raw_of(result, med).mean() < raw_of(result, other).mean()
    for s in result.scores.values():
        assert "Irrelevant" not in s.comment and "criteria topic: -" not in s.comment


def test_a_pick_that_touches_a_ruled_out_term_is_not_told_it_is_ruled_out(cache):
    """A paper picked for its topic that also names something the criteria avoid: its comment
    says the term was weighed in, never that the criteria rule the paper out."""
    seed_criteria = criteria_mod.parse((ROOT / "prompts" / "criteria.txt").read_text(encoding="utf-8"))
    day = papers("2606", [("Sparse mixture of experts with pruning and quantization",
                           "Mixture of Experts layers are pruned and quantized; we also test reinforcement "
                           "learning agents.")] + OTHER + GRASP + FEDERATED)
    result = LocalScorer(cache).score(day, seed_criteria, "2026-01-05")
    picked = result.scores[day[0].arxiv_id]
    assert day[0].arxiv_id in _picks(result, day), picked
    assert "Reinforcement Learning (ruled out), weighed in its score" in picked.comment
    assert "rule out" not in picked.comment


def test_comments_say_each_thing_once(cache):
    seed_criteria = criteria_mod.parse((ROOT / "prompts" / "criteria.txt").read_text(encoding="utf-8"))
    day = papers("2605", [
        ("Representation learning of sparse features",
         "We study representation learning: how deep networks encode sparse dictionary features."),
        ("Mixture of Experts routing for large language models", "A Mixture of Experts layer with pruning of experts."),
    ] + OTHER)
    result = LocalScorer(cache).score(day, seed_criteria, "2025-02-24")
    for s in result.scores.values():
        topic = s.comment.removeprefix("Closest criteria topic: ").split(".")[0]
        assert topic and s.comment.lower().count(topic.lower()) == 1, s.comment
        assert ".." not in s.comment and ", ," not in s.comment
    rep = result.scores[day[0].arxiv_id].comment
    assert rep.startswith("Closest criteria topic: Representation Learning.") and rep.count("Representation") == 1


def test_a_long_topic_is_cut_at_a_word_and_criteria_without_topics_still_explain(cache):
    long_topic = ("Model compression: quantization, pruning and distillation of neural networks for phones "
                  "and other small devices")
    day = papers("2602", COMPRESSION) + papers("2601", FEDERATED)
    result = LocalScorer(cache).score(day, criteria_mod.parse(long_topic), "2026-01-05")
    shown = result.scores[day[0].arxiv_id].comment.removeprefix("Closest criteria topic: ")
    kept = shown.split("\u2026")[0]
    assert kept.startswith("Model compression: quantization, pruning and distillation")
    assert long_topic.startswith(kept + " ")  # cut at a word
    only_avoid = LocalScorer(cache).score(day, criteria_mod.parse("Not interested in federated learning."), "2026-01-05")
    assert "criteria topic" not in only_avoid.scores[day[0].arxiv_id].comment
    assert "touches federated learning (ruled out)" in only_avoid.scores[day[len(COMPRESSION)].arxiv_id].comment


@pytest.mark.parametrize("topic", [
    "大規模言語モデルの量子化と枝刈りによる推論の高速化および省メモリ化に関する研究と評価手法の体系的な整理" * 2,
    "LLM " + "-".join(["quantization", "aware", "training", "for", "mixture", "of", "experts", "routing"]) * 2,
    "Model compression, quantization and pruning for phones and other very small devices.",
])
def test_a_long_topic_is_shown_in_at_most_60_characters_and_never_cut_to_nothing(topic):
    said = comment(topic, ([], []), "An abstract.")
    shown = said.removeprefix("Closest criteria topic: ").removesuffix(".")
    assert len(shown) <= 60 and shown.endswith("\u2026"), shown
    kept = shown.removesuffix("\u2026")
    assert topic.startswith(kept) and len(kept) >= 30, shown
