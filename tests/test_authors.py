"""Watched-author matching: the forms arXiv listings really use, and no false friends."""
from __future__ import annotations

import pytest

from bot.authors import AuthorMatcher, Name, same_person


def matches(watched: str, author: str) -> bool:
    return AuthorMatcher([watched]).match([author]) == [watched]


@pytest.mark.parametrize("watched, author", [
    ("Yoshua Bengio", "Yoshua Bengio"),
    ("Yoshua Bengio", "yoshua bengio"),  # case
    ("Yoshua Bengio", "YOSHUA BENGIO"),
    ("Yoshua Bengio", "Y. Bengio"),  # initials
    ("Yoshua Bengio", "Y Bengio"),
    ("Y. Bengio", "Yoshua Bengio"),
    ("Yoshua Bengio", "Bengio, Yoshua"),  # "Family, Given"
    ("Bengio, Y.", "Yoshua Bengio"),
    ("Yoshua Bengio", "Yoshua Bengio (Mila)"),  # affiliation in the author string
    ("Sören Mindermann", 'S\\"oren Mindermann'),  # LaTeX escape, as in the seed digest
    ("Sören Mindermann", 'S\\"{o}ren Mindermann'),
    ("Sören Mindermann", 'S{\\"o}ren Mindermann'),
    ('S\\"oren Mindermann', "Soren Mindermann"),  # accent dropped
    ("Soren Mindermann", "Sören Mindermann"),
    ("Sébastien Montella", "S\\'ebastien Montella"),  # from the sample day
    ("Martín Abadi", "Mart\\'{\\i}n Abadi"),  # dotless i inside an accent
    ("Martín Abadi", "Mart\\'\\i n Abadi"),
    ("Martín Abadi", "Mart\\'in Abadi"),
    ("Jiří Matas", "Ji\\v{r}\\'{\\i} Matas"),
    ("Łukasz Kaiser", "Lukasz Kaiser"),
    ("Søren Hauberg", "Soren Hauberg"),
    ("Diederik P. Kingma", "D. P. Kingma"),  # middle initial
    ("Diederik Kingma", "Diederik P. Kingma"),
    ("Stefan K. Nielsen", "Stefan Nielsen"),
    ("Jean-Luc Godard", "J.-L. Godard"),  # hyphenated given names and their initials
    ("Jean-Luc Godard", "Jean Luc Godard"),
    ("Pierre-Luc St-Charles", "Pierre-Luc St-Charles"),
    ("Pierre-Luc St-Charles", "P.-L. St-Charles"),
    ("David Williams-King", "David Williams-King"),
    ("Ludwig van Beethoven", "L. van Beethoven"),  # particles stay with the family name
    ("Ludwig van Beethoven", "van Beethoven, Ludwig"),
    ("Conan O'Brien", "Conan OBrien"),
    ("Bengio", "Samy Bengio"),  # a family name alone watches the whole family, as asked
])
def test_same_person_in_other_spellings(watched, author):
    assert matches(watched, author), f"{watched!r} should match {author!r}"


@pytest.mark.parametrize("watched, author", [
    ("Yoshua Bengio", "Samy Bengio"),  # same family name, different given name
    ("Yoshua Bengio", "S. Bengio"),
    ("Y. Bengio", "Samy Bengio"),
    ("Yoshua Bengio", "Bengio, Samy"),
    ("Yoshua Bengio", "Yoshua Bengioo"),
    ("Yoshua Bengio", "Yoshua Benigo"),
    ("Sören Mindermann", "Soren Mindermannova"),
    ("Diederik P. Kingma", "Durk Kingman"),
    ("David Williams-King", "David King"),  # a hyphenated family name is one name
    ("David Williams-King", "D. King"),
    ("Anna Smith-Jones", "Anna Jones"),
    ("Ludwig van Beethoven", "Ludwig Beethoven"),
    ("Martín Abadi", "Martina Abadi"),
])
def test_no_match_for_a_different_person(watched, author):
    assert not matches(watched, author), f"{watched!r} must not match {author!r}"


def test_matcher_returns_the_configured_labels_of_every_hit():
    m = AuthorMatcher(["Yoshua Bengio", "Sören Mindermann", "Geoffrey Hinton"])
    seed_authors = ["Yoshua Bengio", "Michael Cohen", 'S\\"oren Mindermann', "Adam Oberman"]
    assert m.match(seed_authors) == ["Yoshua Bengio", "Sören Mindermann"]
    assert m.match(["Samy Bengio", "Geoffrey E. Hinton"]) == ["Geoffrey Hinton"]
    assert m.match([]) == []


def test_unparseable_names_are_ignored_not_fatal():
    m = AuthorMatcher(["", "  ", "()", "Yoshua Bengio"])
    assert m.match(["", "...", "Yoshua Bengio"]) == ["Yoshua Bengio"]
    assert AuthorMatcher([]).match(["Yoshua Bengio"]) == []


def test_name_parse_shapes():
    assert Name.parse("Bengio, Yoshua") == Name(given=("yoshua",), family="bengio")
    assert Name.parse('S\\"oren Mindermann') == Name(given=("soren",), family="mindermann")
    assert Name.parse("Ludwig van der Berg") == Name(given=("ludwig",), family="vanderberg")
    assert Name.parse("") is None
    assert same_person(Name.parse("Y. Bengio"), Name.parse("Yoshua Bengio"))
