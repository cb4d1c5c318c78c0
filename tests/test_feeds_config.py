"""[feeds.NAME] settings tables and the feeds registry (bot/feeds.py)."""
from __future__ import annotations

import pytest

from bot import feeds
from bot.config import ConfigError, load_settings
from bot.db import open_db

TWO_FEEDS = """
[ranking]
min_relevance = 6
[feeds.default.slack]
channel = "C0DEFAULT"
[feeds.vision.slack]
channel = "C0VISION"
[feeds.vision.ranking]
criteria_file = "tests/fixtures/shared/vision-embodied.criteria.txt"
max_papers = 12
[feeds.vision.arxiv]
categories = ["cs.CV", "cs.AI"]
"""


def _settings(tmp_path, text: str):
    path = tmp_path / "team.toml"
    path.write_text(text)
    return load_settings(path)


@pytest.fixture
def db(tmp_path):
    return open_db(tmp_path / "arxiv.sqlite")


def test_without_feeds_there_is_one_feed_default_with_todays_settings(tmp_path):
    s = _settings(tmp_path, "[ranking]\nmin_relevance = 6\n")
    assert s.feed_names() == ["default"]
    d = s.for_feed("default")
    assert d.feed == "default"
    assert d.values == s.values  # today's behaviour and file paths unchanged


def test_a_feed_overrides_the_top_level_key_by_key(tmp_path):
    s = _settings(tmp_path, TWO_FEEDS)
    assert s.feed_names() == ["default", "vision"]
    v = s.for_feed("vision")
    assert (v["slack.channel"], v["arxiv.categories"], v["ranking.max_papers"]) == ("C0VISION", ["cs.CV", "cs.AI"], 12)
    assert v["ranking.min_relevance"] == 6  # from the top level
    assert v["ranking.min_novelty"] == s["ranking.min_novelty"]  # from settings.toml
    assert v["storage.digest_dir"].endswith("vision") and v["storage.database"] == s["storage.database"]
    assert s.for_feed("default")["storage.digest_dir"] == s["storage.digest_dir"]


def test_a_named_feed_posts_nowhere_unless_it_names_a_channel(tmp_path):
    s = _settings(tmp_path, "[feeds.notes.ranking]\nmax_papers = 5\n")
    assert s.for_feed("notes")["slack.channel"] == ""


@pytest.mark.parametrize("text, said", [
    ("[feeds.vision.ranking]\nmin_relevance = 11\n", "setting `feeds.vision.ranking.min_relevance` = 11 is invalid"),
    ("[feeds.vision.ranking]\nno_such = 1\n", "unknown setting `feeds.vision.ranking.no_such`"),
    ("[feeds.Vision.ranking]\nmax_papers = 1\n", "feed name 'Vision' in [feeds.Vision] is invalid"),
    ("[feeds.vision]\nmax_papers = 1\n", "`feeds.vision.max_papers` must be a [feeds.vision.section] table"),
    ("[feeds.vision.storage]\ndatabase = \"other.sqlite\"\n", "`feeds.vision.storage.database` cannot differ between feeds"),
    ("feeds = 3\n", "`feeds` must be tables [feeds.NAME.SECTION]"),
])
def test_a_wrong_feed_setting_names_itself(tmp_path, text, said):
    with pytest.raises(ConfigError) as err:
        _settings(tmp_path, text)
    assert said in str(err.value)


def test_two_feeds_on_one_channel_are_a_configuration_error(tmp_path, db):
    s = _settings(tmp_path, TWO_FEEDS.replace('"C0VISION"', '"C0DEFAULT"'))
    with pytest.raises(ConfigError, match="feeds 'default' and 'vision' both post to Slack channel C0DEFAULT"):
        feeds.all_feeds(s, db)


def test_a_feed_started_from_slack_lives_beside_those_of_the_file(tmp_path, db):
    s = _settings(tmp_path, TWO_FEEDS)
    made = feeds.start_feed(s, db, "nlp", "C0NLP", "U0ALICE")
    assert (made.feed, made["slack.channel"]) == ("nlp", "C0NLP")
    assert feeds.names(s, db) == ["default", "vision", "nlp"]
    assert feeds.feed_for_channel(s, db, "C0NLP").feed == "nlp"
    assert feeds.feed_for_channel(s, db, "C0ELSE") is None
    assert feeds.feed_named(s, db, "vision")["ranking.max_papers"] == 12
    with pytest.raises(feeds.FeedError, match="there is no feed 'nope'; the feeds are: default, vision, nlp"):
        feeds.feed_named(s, db, "nope")


def test_a_channel_given_by_name_in_the_settings_is_found_by_the_name_slack_sends(tmp_path, db):
    s = _settings(tmp_path, '[feeds.vision.slack]\nchannel = "#vision-papers"\n')
    assert feeds.feed_for_channel(s, db, "C0123", "vision-papers").feed == "vision"


@pytest.mark.parametrize("name, channel, said", [
    ("Bad Name", "C1", "cannot be a feed name"),
    ("vision", "C1", "there is a feed 'vision' already"),
    ("other", "C0VISION", "this channel has a feed already: 'vision'"),
])
def test_a_feed_that_cannot_be_started_says_why(tmp_path, db, name, channel, said):
    s = _settings(tmp_path, TWO_FEEDS)
    with pytest.raises(feeds.FeedError, match=said):
        feeds.start_feed(s, db, name, channel, "U0ALICE")
    assert feeds.slack_feeds(db) == []


def test_two_feeds_writing_digests_to_one_folder_are_a_configuration_error(tmp_path, db):
    s = _settings(tmp_path, '[feeds.a.storage]\ndigest_dir = "out"\n[feeds.b.storage]\ndigest_dir = "out"\n')
    with pytest.raises(ConfigError, match="feeds 'a' and 'b' both write their digests to"):
        feeds.all_feeds(s, db)


def test_a_feed_name_with_a_trailing_newline_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="feed name 'ab\\\\n' in"):
        _settings(tmp_path, '[feeds."ab\\n".ranking]\nmax_papers = 5\n')


def test_an_empty_feed_name_selects_no_feed_rather_than_all(tmp_path, db):
    s = _settings(tmp_path, TWO_FEEDS)
    with pytest.raises(feeds.FeedError, match="there is no feed ''"):
        feeds.selected(s, db, "")


def test_a_feed_cannot_be_started_in_the_channel_the_settings_name_by_its_name(tmp_path, db):
    """The shipped settings name the default feed's channel "#arxiv-papers"; /arxiv sends the ID
    and the name: a second feed there is refused."""
    s = _settings(tmp_path, "[ranking]\nmin_relevance = 6\n")
    with pytest.raises(feeds.FeedError, match="this channel has a feed already: 'default'"):
        feeds.start_feed(s, db, "second", "C0PAPERS", "U0ALICE", "arxiv-papers")
    assert feeds.slack_feeds(db) == []


def test_a_feed_started_from_slack_keeps_its_criteria_when_the_default_feeds_file_changes(tmp_path, db):
    from bot import criteria

    crit_file = tmp_path / "criteria.txt"
    crit_file.write_text("- Graph neural networks for molecules\n- Message passing theory\n")
    s = _settings(tmp_path, f'[ranking]\ncriteria_file = "{crit_file}"\n')
    made = feeds.start_feed(s, db, "proteins", "C0PROT", "U0ALICE")
    criteria.save_version(db, "- Protein folding with diffusion models\n- Protein language models\n", "U0ALICE",
                          feed="proteins")
    crit_file.write_text("- Graph neural networks for molecules\n- Equivariant networks\n")
    crit, said = criteria.for_run(db, criteria.file_of(made), feed="proteins")
    assert "Protein folding" in crit.text and said == []
    assert "Equivariant" in criteria.for_run(db, criteria.file_of(s.for_feed("default")), feed="default")[0].text
