"""Learning from thumbs: the taste model, the blend, the explanation, and the daily run
with feedback, on a real SQLite file with the real MiniLM embedder."""
from __future__ import annotations

import numpy as np
import pytest

from bot import criteria as criteria_mod
from bot import feedback
from bot.config import load_settings
from bot.embed import EmbeddingCache, paper_text
from bot.learn import LearnConfig, TasteModel, blend, blend_weight, explain, team_labels
from bot.models import Paper
from bot.pipeline import make_scorer, run_day
from bot.scoring.local import LocalScorer
from bot.scoring.taste import TasteScorer
from bot.store import save_papers
from tests.scorer_fixtures import cache, db, model, papers  # noqa: F401 (fixtures by name)
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DAY = FIXTURES / "rss-2025-02-24-7items.xml"

CRITERIA = criteria_mod.parse(
    "1. New machine learning methods and surprising empirical results.\n"
    "2. Learning algorithms with theory.\n")

GRASP = [
    ("Learning dexterous robotic grasping from tactile feedback",
     "We train a robot hand to grasp unseen objects using tactile sensors and reinforcement learning in simulation, "
     "then transfer the grasping policy to a real robot arm."),
    ("Sim-to-real transfer for robot manipulation of deformable objects",
     "A robotic manipulation policy learned in a physics simulator folds cloth and picks up cables on a real robot."),
    ("Visuomotor policies for robot pick-and-place",
     "We learn end-to-end visuomotor control for a robot arm that picks and places household objects from camera images."),
]
LEGAL = [
    ("Large language models for summarising legal contracts",
     "We prompt a large language model to summarise court rulings and legal contracts for lawyers and evaluate "
     "the summaries with legal experts."),
    ("Retrieval-augmented question answering over statutes",
     "A retrieval-augmented language model answers questions about tax law statutes and legal regulations."),
    ("Detecting unfair clauses in terms of service with LLMs",
     "Language models classify unfair clauses in consumer contracts and terms of service documents."),
]
OTHER = [
    ("Protein structure prediction with equivariant networks",
     "An SE(3)-equivariant graph network predicts protein backbone structure from amino acid sequences."),
    ("Faster convergence bounds for stochastic gradient descent",
     "We prove tighter convergence rates for SGD on smooth non-convex objectives with heavy-tailed noise."),
    ("Graph neural networks for traffic forecasting",
     "Spatio-temporal graph networks forecast road traffic speed from sensor networks in cities."),
    ("Diffusion models for audio generation",
     "A latent diffusion model generates music and speech audio from text descriptions."),
    ("Federated learning with differential privacy on mobile phones",
     "Clients train a shared model without sharing data, with differential privacy guarantees."),
    ("Time series anomaly detection with transformers",
     "A transformer detects anomalies in multivariate sensor time series from industrial machines."),
]
# Today's papers: one like the liked ones, one like the disliked ones, and neutral ones.
TODAY = [
    ("Robot arm grasping of transparent objects with tactile sensing",
     "A robotic hand uses tactile sensing and a learned grasping policy to pick up transparent glass objects."),
    ("Legal judgement prediction with large language models",
     "We use a large language model to predict court decisions from legal case documents and contracts."),
    ("Contrastive learning of sentence embeddings",
     "A contrastive objective learns sentence embeddings that transfer to semantic similarity tasks."),
    ("Bayesian optimisation for hyperparameter tuning",
     "Gaussian process Bayesian optimisation tunes neural network hyperparameters with fewer evaluations."),
    ("Graph neural networks for molecule property prediction",
     "Message passing networks predict molecular properties for drug discovery from molecular graphs."),
    ("Reinforcement learning for chip placement",
     "A reinforcement learning agent places macros on a chip floorplan to reduce wire length."),
]


@pytest.fixture
def history(db):
    """Earlier days: grasping, legal and other papers announced (not yet voted on)."""
    grasp, legal, other = papers("2501", GRASP), papers("2502", LEGAL), papers("2503", OTHER)
    save_papers(db, "2025-02-10", grasp[:1] + legal[:1] + other[:3])
    save_papers(db, "2025-02-11", grasp[1:] + legal[1:] + other[3:])
    return {"grasp": grasp, "legal": legal, "other": other}


def ranks(result, today) -> dict[str, int]:
    order = sorted(today, key=lambda p: -result.scores[p.arxiv_id].raw)
    return {p.arxiv_id: i for i, p in enumerate(order)}


def vote_all(db, ps, vote, user="U1"):
    for p in ps:
        feedback.set_vote(db, p.arxiv_id, user, vote, source="test", feed="default")


# --- the model on plain vectors ------------------------------------------------------------

def test_one_like_against_a_large_background_still_separates():
    rng = np.random.default_rng(0)
    liked_dir = rng.normal(size=16)
    background = rng.normal(size=(500, 16))
    liked = liked_dir + 0.1 * rng.normal(size=(1, 16))
    X = np.vstack([liked, background])
    kind = np.r_[1, np.zeros(500)]
    m = TasteModel(LearnConfig(text_weight=0)).fit(X, kind)
    s = m.decision(np.vstack([liked_dir, -liked_dir, background[:20]]))
    assert m.n_liked == 1 and m.n_disliked == 0
    assert s[0] > s[2:].max() and s[1] < s[2:].min()


def test_dislikes_weigh_more_than_unvoted_papers():
    rng = np.random.default_rng(1)
    liked = rng.normal(size=(5, 8)) + 3 * np.eye(8)[0]
    disliked = rng.normal(size=(5, 8)) + 3 * np.eye(8)[1]
    background = rng.normal(size=(200, 8)) + 3 * np.eye(8)[2]
    X = np.vstack([liked, disliked, background])
    kind = np.r_[np.ones(5), -np.ones(5), np.zeros(200)]
    probe = np.vstack([3 * np.eye(8)[1], 3 * np.eye(8)[2]])  # like a dislike, like the background
    strong = TasteModel(LearnConfig(text_weight=0, dislike_weight=10)).fit(X, kind).decision(probe)
    weak = TasteModel(LearnConfig(text_weight=0, dislike_weight=0.01)).fit(X, kind).decision(probe)
    # Weighted strongly, a dislike is pushed further below the unvoted background.
    assert (strong[0] - strong[1]) < (weak[0] - weak[1])
    assert strong[0] < strong[1]


def test_no_labels_learns_nothing_and_blend_keeps_the_zero_shot_score():
    m = TasteModel().fit(np.zeros((3, 4)), np.zeros(3))
    assert m.n_labels == 0
    assert np.allclose(m.decision(np.ones((2, 4))), 0)
    zero = np.array([0.1, 0.3, 0.2])
    assert np.allclose(blend(zero, np.array([5.0, -1.0, 0.0]), blend_weight(0, 20)), zero)


def test_blend_trusts_feedback_more_as_labels_accumulate():
    assert blend_weight(0, 20) == 0
    assert blend_weight(20, 20) == pytest.approx(0.5)
    assert blend_weight(1, 20) < blend_weight(5, 20) < blend_weight(500, 20) < 1
    # Capped: the criteria keep a say however many votes there are.
    assert blend_weight(500, 5, most=0.7) == 0.7 and blend_weight(1, 5, most=0.7) == pytest.approx(1 / 6)
    zero = np.array([0.30, 0.20, 0.10])
    learned = np.array([-1.0, 0.0, 1.0])  # the opposite order
    assert np.argmax(blend(zero, learned, 0.1)) == 0
    assert np.argmax(blend(zero, learned, 0.9)) == 2
    mixed = blend(zero, np.array([0.0, 1.0, 0.5]), 0.5)
    # Mapped back to the zero-shot score's mean and spread, so its 1-10 calibration holds.
    assert mixed.mean() == pytest.approx(zero.mean()) and mixed.std() == pytest.approx(zero.std())


def test_explain_names_the_close_liked_papers():
    liked = np.eye(3)[:2]
    vecs = np.array([[1.0, 0.9, 0.0], [0.0, 0.0, 1.0]])
    lines = explain(vecs, liked, ["Paper <A>", "Paper B"], threshold=0.6)
    assert lines[0].startswith("close to 2 papers the team liked: ")
    assert "Paper <A>" in lines[0] and "Paper B" in lines[0]
    assert lines[1] == ""


# --- labels from the feedback table ----------------------------------------------------------

def test_vote_changes_and_removals_change_the_labels(db, history):
    g, l = history["grasp"], history["legal"]
    feedback.set_vote(db, g[0].arxiv_id, "U1", 1, source="test", feed="default")
    feedback.set_vote(db, l[0].arxiv_id, "U1", 1, source="test", feed="default")
    lab = team_labels(db, feed="default")
    assert {p.arxiv_id for p in lab.liked} == {g[0].arxiv_id, l[0].arxiv_id}
    feedback.set_vote(db, l[0].arxiv_id, "U1", -1, source="test", feed="default")  # changed their mind: latest wins
    feedback.toggle_vote(db, g[0].arxiv_id, "U1", 1, source="test", feed="default")  # same button again: removed
    lab = team_labels(db, feed="default")
    assert [p.arxiv_id for p in lab.liked] == []
    assert [p.arxiv_id for p in lab.disliked] == [l[0].arxiv_id]
    # Two users: net vote; a tie is no label.
    feedback.set_vote(db, l[0].arxiv_id, "U2", 1, source="test", feed="default")
    lab = team_labels(db, feed="default")
    assert l[0].arxiv_id not in {p.arxiv_id for p in lab.liked + lab.disliked}
    # Voted papers never serve as unlabelled background; the rest do.
    assert l[0].arxiv_id not in {p.arxiv_id for p in lab.unlabeled}
    assert g[0].arxiv_id in {p.arxiv_id for p in lab.unlabeled}


def test_votes_on_unknown_papers_are_skipped(db, history):
    feedback.set_vote(db, "9999.99999", "U1", 1, source="test", feed="default")
    assert team_labels(db, feed="default").liked == []


# --- scoring with real embeddings ------------------------------------------------------------

def test_a_handful_of_thumbs_moves_a_similar_paper_up_and_a_disliked_one_down(db, cache, history):
    today = papers("2504", TODAY)
    base = LocalScorer(cache).score(today, CRITERIA, "2025-02-12")
    vote_all(db, history["grasp"], 1)
    vote_all(db, history["legal"], -1)
    taste = TasteScorer(LocalScorer(cache), db, cache, LearnConfig(), feed="default").score(today, CRITERIA, "2025-02-12")
    before, after = ranks(base, today), ranks(taste, today)
    robot, legal = today[0].arxiv_id, today[1].arxiv_id
    assert after[robot] < before[robot]
    assert after[legal] > before[legal]
    assert taste.scores[robot].relevance >= base.scores[robot].relevance
    assert any("taste learned from 3 liked and 3 disliked" in n for n in taste.notes)


def test_the_first_thumb_up_already_counts(db, cache, history):
    today = papers("2504", TODAY)
    base = LocalScorer(cache).score(today, CRITERIA, "2025-02-12")
    vote_all(db, history["grasp"][:1], 1)
    taste = TasteScorer(LocalScorer(cache), db, cache, feed="default").score(today, CRITERIA, "2025-02-12")
    robot = today[0].arxiv_id
    assert taste.scores[robot].raw - np.mean([s.raw for s in taste.scores.values()]) > \
        base.scores[robot].raw - np.mean([s.raw for s in base.scores.values()])


def test_the_first_thumb_down_already_counts(db, cache, history):
    today = papers("2504", TODAY)
    base = LocalScorer(cache).score(today, CRITERIA, "2025-02-12")
    vote_all(db, history["legal"][:1], -1)
    taste = TasteScorer(LocalScorer(cache), db, cache, feed="default").score(today, CRITERIA, "2025-02-12")
    legal = today[1].arxiv_id
    assert taste.scores[legal].raw - np.mean([s.raw for s in taste.scores.values()]) < \
        base.scores[legal].raw - np.mean([s.raw for s in base.scores.values()])


def test_each_feed_learns_its_own_taste_from_its_own_votes(db, cache, history, monkeypatch):
    monkeypatch.delenv("ARXIV_SETTINGS", raising=False)
    today = papers("2504", TODAY)
    for p in history["grasp"]:
        feedback.set_vote(db, p.arxiv_id, "U1", 1, source="test", feed="robots")
        feedback.set_vote(db, p.arxiv_id, "U1", -1, source="test", feed="law")
    for p in history["legal"]:
        feedback.set_vote(db, p.arxiv_id, "U1", -1, source="test", feed="robots")
        feedback.set_vote(db, p.arxiv_id, "U1", 1, source="test", feed="law")
    settings = load_settings()
    robots = TasteScorer.for_feed(LocalScorer(cache), db, cache, settings.for_feed("robots"))
    law = TasteScorer.for_feed(LocalScorer(cache), db, cache, settings.for_feed("law"))
    assert robots.name == law.name  # scores are kept apart by the feeds' criteria versions
    by_robots = ranks(robots.score(today, CRITERIA, "2025-02-12"), today)
    by_law = ranks(law.score(today, CRITERIA, "2025-02-12"), today)
    robot, legal = today[0].arxiv_id, today[1].arxiv_id
    assert by_robots[robot] < by_robots[legal] and by_law[legal] < by_law[robot]
    assert team_labels(db, feed="default").liked == []  # the default feed has no votes


# --- the daily run ---------------------------------------------------------------------------

@pytest.fixture
def settings(tmp_path, monkeypatch):
    for name in ("ARXIV_SETTINGS", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return load_settings().override(
        storage__digest_dir=str(tmp_path / "digests"), storage__database=str(tmp_path / "team.sqlite"),
        ranking__authors=[], ranking__min_relevance=1, ranking__min_novelty=1, arxiv__enrich=False)


def test_daily_run_uses_feedback_and_says_why(settings, db, history):
    assert make_scorer(settings, db).name == "local:minilm"  # no votes yet: plain criteria
    # The team liked a paper much like today's "Tight Clusters Make Specialized Experts".
    liked = Paper("2502.00001", "Tight clusters make specialised experts in mixture-of-experts models",
                  ["B. Author"], "Mixture of experts routers that cluster tokens tightly make experts specialise; "
                  "we analyse clustering-based routing for sparse mixture-of-experts language models.")
    save_papers(db, "2025-02-20", [liked])
    feedback.set_vote(db, liked.arxiv_id, "U1", 1, source="test", feed="default")
    scorer = make_scorer(settings, db)
    assert scorer.name == "local:minilm+taste"
    out = run_day(settings, db, feed_file=DAY)
    assert out.status == "done"
    why = {pk.paper.arxiv_id: pk.why for pk in out.report.picks}
    assert why["2502.15315"].startswith("close to 1 paper the team liked: Tight clusters make specialised experts")
    assert not why["2502.15118"]  # Rademacher complexities: nothing the team liked is close
    assert any("taste learned from 1 liked" in n for n in out.report.notes)
    assert "**Why:** close to 1 paper the team liked" in out.paths[0].read_text()


def test_learning_can_be_turned_off(settings, db, history):
    feedback.set_vote(db, history["grasp"][0].arxiv_id, "U1", 1, source="test", feed="default")
    assert make_scorer(settings.override(learning__enabled=False), db).name == "local:minilm"


# --- a long vote history: bounded embedding, progress shown ----------------------------------

def voted_history(db, n: int, day: str = "2025-01-0") -> list[Paper]:
    """n papers voted on (alternately up and down, one minute apart), never embedded."""
    ps = [Paper(f"2401.{i:05d}", f"Voted paper {i} on topic {i % 7}", ["A. Author"],
                f"An abstract about topic {i % 7}, variant {i}.") for i in range(n)]
    save_papers(db, "2025-01-02", ps)
    for i, p in enumerate(ps):
        feedback.set_vote(db, p.arxiv_id, "U1", 1 if i % 2 else -1, source="test",
                          at=f"2025-01-02T{i // 60:02d}:{i % 60:02d}:00+00:00", feed="default")
    return ps


class Steps:
    """A Progress that records the steps announced and the items done in each."""

    def __init__(self):
        self.steps: list[list] = []

    def __call__(self, n, step=None, total=None):
        if step is not None:
            self.steps.append([step, total, 0])
        self.steps[-1][2] += n


def test_a_long_vote_history_is_embedded_at_most_the_bound_per_run_most_recent_first(db, cache):
    voted = voted_history(db, 40)
    today = papers("2504", TODAY)
    config = LearnConfig(max_embed_per_run=6)
    LocalScorer(cache).score(today, CRITERIA, "2025-02-12")  # today's papers and the criteria: cached
    steps = Steps()
    before = cache.embedder.embedded
    taste = TasteScorer(LocalScorer(cache), db, cache, config, feed="default").score(today, CRITERIA, "2025-02-12", progress=steps)
    assert cache.embedder.embedded - before == 6
    # The fit is one call: it is named while it runs, with no count that would only jump 0 -> N.
    assert steps.steps == [["embedding voted papers for the taste model", 6, 6], ["fitting the taste model", None, 0]]
    # The six most recent votes are the ones embedded; the digest says the rest wait.
    cached = {p.arxiv_id for p in voted if len(cache.cached_many([paper_text(p.title, p.abstract)]))}
    assert cached == {p.arxiv_id for p in voted[-6:]}
    assert any("34 more voted papers have no vector yet" in n and "learning.max_embed_per_run" in n
               for n in taste.notes)
    assert any("learned from 3 liked and 3 disliked" in n for n in taste.notes)
    # The next run embeds the next six, and only those.
    before = cache.embedder.embedded
    again = TasteScorer(LocalScorer(cache), db, cache, config, feed="default").score(today, CRITERIA, "2025-02-12", progress=Steps())
    assert cache.embedder.embedded - before == 6
    assert any("28 more voted papers" in n for n in again.notes)


def test_explaining_a_re_render_embeds_nothing_of_the_vote_history(db, cache):
    voted_history(db, 20)
    today = papers("2504", TODAY)
    scorer = TasteScorer(LocalScorer(cache), db, cache, LearnConfig(max_embed_per_run=4), feed="default")
    cache.get_many([paper_text(p.title, p.abstract) for p in today])
    before = cache.embedder.embedded
    scorer.explain(today)  # not fitted in this run: every score was stored
    assert cache.embedder.embedded == before


def test_digest_after_a_large_import_shows_progress_and_embeds_only_the_bound(tmp_path, capsys, monkeypatch):
    import json

    from bot.cli import main
    from bot.db import open_db

    for name in ("ARXIV_SETTINGS", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    team = tmp_path / "team.toml"
    team.write_text(f'[storage]\ndigest_dir = "{tmp_path / "digests"}"\n[arxiv]\nenrich = false\n'
                    "[learning]\nmax_embed_per_run = 4\n")
    votes = tmp_path / "votes.jsonl"
    votes.write_text("".join(json.dumps({
        "arxiv_id": f"2401.{i:05d}", "user": "U1", "vote": 1 if i % 3 else -1,
        "time": f"2025-01-02T10:{i:02d}:00Z", "title": f"Imported paper {i}",
        "abstract": f"An imported abstract about subject {i}."}) + "\n" for i in range(30)))
    dbfile = str(tmp_path / "team.sqlite")
    assert main(["--settings", str(team), "feedback", "import", str(votes), "--db", dbfile]) == 0
    assert f"importing {votes}" in capsys.readouterr().err
    assert main(["--settings", str(team), "digest", "--feed", str(DAY), "--db", dbfile]) == 0
    out = capsys.readouterr()
    assert "embedding papers" in out.err and "embedding voted papers for the taste model" in out.err
    imported = [f"Imported paper {i}. An imported abstract about subject {i}." for i in range(30)]
    assert len(EmbeddingCache(open_db(dbfile)).cached_many(imported)) == 4
    digest = next((tmp_path / "digests").glob("*.md")).read_text()
    assert "26 more voted papers have no vector yet" in digest
