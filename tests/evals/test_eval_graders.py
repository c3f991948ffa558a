"""Graders: each accepts what it should and rejects near misses."""

import pytest
from thinkfast.evals.errors import GraderError
from thinkfast.evals.graders import get_grader, parse_number


def g(name, answer, text, target, metadata=None, **options):
    return get_grader(name, **options).grade(answer, text, target, metadata)


def test_exact():
    assert g("exact", " Paris. ", "", "paris").correct
    assert not g("exact", "Paris", "", "paris", case_sensitive=True).correct
    assert g("exact", None, "thinking...\nthe  answer", "The answer").correct
    assert not g("exact", "Pariss", "", "Paris").correct


def test_numeric_tolerance_and_fallback():
    assert g("numeric", "1,234", "", "1234").correct
    assert g("numeric", "3.5", "", "7/2").correct
    assert not g("numeric", "1235", "", "1234").correct
    assert g("numeric", "1235", "", "1234", rel_tol=1e-3).correct
    assert g("numeric", "0.101", "", "0.1", abs_tol=0.01).correct
    # no extracted answer: the last number in the text counts
    grade = g("numeric", None, "12*3=36, 36+4=40", "40")
    assert grade.correct and grade.answer == "40"
    assert not g("numeric", None, "no idea", "40").correct
    with pytest.raises(GraderError, match="not a number"):
        g("numeric", "1", "", "forty")
    with pytest.raises(GraderError):
        get_grader("numeric", abs_tol=-1)


def test_parse_number():
    assert parse_number("$5.") == 5.0
    assert parse_number("-3.50") == -3.5
    assert parse_number("abc") is None
    assert parse_number(None) is None


def test_regex():
    assert g("regex", "colour", "", "colou?r").correct
    assert not g("regex", "colours", "", "colou?r").correct
    with pytest.raises(GraderError, match="not a valid regex"):
        g("regex", "x", "", "(")


def test_choice_letters_and_texts():
    meta = {"choices": ["red", "green", "blue"]}
    assert g("choice", "B", "", "B", meta).correct
    assert g("choice", "(b)", "", "B", meta).correct
    assert g("choice", "green", "", "B", meta).correct
    assert g("choice", "B", "", "green", meta).correct
    assert not g("choice", "C", "", "B", meta).correct
    assert g("choice", None, "I think the answer is (C)", "C").correct
    with pytest.raises(GraderError, match="neither a letter"):
        g("choice", "A", "", "purple", meta)


def test_unknown_grader_and_bad_option():
    with pytest.raises(GraderError, match="unknown grader 'fuzzy'; graders are choice, exact"):
        get_grader("fuzzy")
    with pytest.raises(GraderError, match="does not accept"):
        get_grader("exact", tolerance=1)
