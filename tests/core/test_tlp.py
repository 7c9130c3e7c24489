import pytest

from cyberatlas.core.tlp import Audience, Marking, Reader, may_read, strictest


@pytest.mark.parametrize(
    ("text", "marking"),
    [
        ("clear", Marking.CLEAR),
        ("TLP:WHITE", Marking.CLEAR),
        ("green", Marking.GREEN),
        ("TLP:AMBER", Marking.AMBER),
        ("amber+strict", Marking.AMBER_STRICT),
        ("TLP:AMBER+STRICT", Marking.AMBER_STRICT),
        ("amber_strict", Marking.AMBER_STRICT),
        (" Red ", Marking.RED),
    ],
)
def test_markings_parse_from_tlp_1_and_2_spellings(text, marking):
    assert Marking.parse(text) is marking


def test_unknown_marking_lists_the_choices():
    with pytest.raises(ValueError, match="amber\\+strict"):
        Marking.parse("purple")


def test_strictest_marking_wins():
    assert strictest([Marking.GREEN, Marking.RED, Marking.AMBER]) is Marking.RED
    assert strictest([]) is Marking.CLEAR
    assert Marking.AMBER_STRICT.label == "TLP:AMBER+STRICT"


def test_the_rule_for_each_marking():
    me = Reader(1, 10, True, frozenset({7}), frozenset({"granted"}))

    def audience(marking, org=20, author=2, investigation=None, sid="s"):
        return Audience(sid, marking, org, author, investigation)

    assert may_read(me, audience(Marking.CLEAR))
    assert may_read(me, audience(Marking.GREEN))
    assert not may_read(me, audience(Marking.AMBER))
    assert may_read(me, audience(Marking.AMBER, org=10))
    assert may_read(me, audience(Marking.AMBER, investigation=7))
    assert may_read(me, audience(Marking.AMBER, sid="granted"))
    assert not may_read(me, audience(Marking.AMBER_STRICT, investigation=7))
    assert not may_read(me, audience(Marking.AMBER_STRICT, sid="granted"))
    assert may_read(me, audience(Marking.AMBER_STRICT, org=10))
    assert not may_read(me, audience(Marking.RED, org=10))
    assert may_read(me, audience(Marking.RED, author=1))
    assert may_read(me, audience(Marking.RED, sid="granted"))
    inactive = Reader(1, 10, False, frozenset(), frozenset())
    assert not may_read(inactive, audience(Marking.CLEAR))
