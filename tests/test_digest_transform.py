"""The small model's transformations (kb.digest.write, transform mode), with fakes: the wrapping around a reply is
taken off before the check, a rewrite that strays from its sentence is not kept even when the check passes it,
a reply that was no claim or a copy is asked once more, and a field whose sentences other fields show says so
instead of "not stated"."""
from __future__ import annotations

import re

from kb.backends.generators import FakeGenerator
from kb.digest.render import render
from kb.digest.types import COVERED, NOT_STATED
from kb.digest.write import TRANSFORM_CHECK, _TASK, _strays, _truncated, repair_reply
from kb.grounding.align import key_sequence, pieces
from kb.grounding.terms import content_stems
from kb.prompts import TRANSFORM_EXAMPLE, TRANSFORM_EXAMPLES, TRANSFORMS, transform_messages
from tests.test_digest_roles import ABSTRACT, _one

TITLE = "MirrorSplat: Reflecting Gaussians for Mirror Scenes"
SOURCE = "3D Gaussian Splatting showcases notable advancements in real-time novel view synthesis."


def _passage(messages) -> str:
    return re.search(r'<passage id="1">\s*(.*?)\s*</passage>', messages[-1]["content"], re.S).group(1)


def test_the_wrapping_around_a_reply_is_taken_off_and_nothing_else():
    # a label before a sentence that starts with a digit ("Reflection: 3D ...") was shown as part of the statement
    assert repair_reply(f"Reflection: {SOURCE}", SOURCE, TITLE) == SOURCE
    assert repair_reply(f"Takeaway: {SOURCE}", SOURCE, TITLE) == SOURCE
    # a name of the paper's own before a colon is no label
    named = "MirrorSplat: it renders mirrors in real time."
    assert repair_reply(named, "MirrorSplat renders mirrors in real time.", TITLE) == named
    assert repair_reply("Here's a shorter version:\nGaussian Splatting renders in real time.", SOURCE, TITLE) == \
        "Gaussian Splatting renders in real time."
    assert repair_reply('Original sentence: "x"\nRewritten sentence: "Splatting renders views in real time."',
                        SOURCE, TITLE) == "Splatting renders views in real time."
    assert repair_reply("1. 2) we leverage MVS to encode the views.", SOURCE, TITLE) == \
        "We leverage MVS to encode the views."
    assert repair_reply("The sentence says that splatting is fast.", SOURCE, TITLE) == "Splatting is fast."


def test_a_rewrite_that_strays_is_caught_though_its_words_are_in_the_passage_or_title():
    gap = "However, its strategy of densification might lead to blurry artifacts."
    # the title's name put on what the sentence says of something else ("its strategy": the earlier method's)
    assert _strays("The MirrorSplat Reflecting strategy might lead to blurry artifacts.", gap, TITLE,
                   "prior_methods") == "misattributed"
    # ... which the summary may do: it says what the paper does
    assert _strays("MirrorSplat reflects Gaussians for mirror scenes.", "We present a method for mirror scenes.",
                   TITLE, "summary") == ""
    example = TRANSFORM_EXAMPLE[2].split()[-3]  # a word of the prompt's worked example ("attention")
    assert _strays(f"Its {example} strategy might lead to blurry artifacts.", gap, TITLE, "takeaways") == "example"
    assert _strays("Its strategy of densification causes severe blurry artifacts in mirrors.", gap, TITLE,
                   "takeaways") == "added-words"
    assert _strays("Its densification strategy might lead to blurry artifacts.", gap, TITLE, "takeaways") == ""
    # "It" where the sentence names its subject: the cut moves the claim onto whatever "it" is
    hard = "Detecting mirrors in phone videos is thought to be hard for modern segmenters."
    assert _strays("It is thought to be hard for modern segmenters.", hard, TITLE, "background") == "pronoun"
    assert _strays("It's thought to be hard for modern segmenters.", hard, TITLE, "background") == "pronoun"
    same = "However, it faces challenges in modelling mirror reflections."
    assert _strays("It faces challenges in modelling mirror reflections.", same, TITLE, "prior_methods") == ""


def test_the_model_sees_worked_examples_that_delete_words_and_no_title_to_echo():
    messages = transform_messages("step", TITLE, [SOURCE])
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * len(TRANSFORM_EXAMPLES) + ["user"]
    assert messages[2]["content"] == TRANSFORM_EXAMPLE[2]
    assert messages[-1]["content"].endswith(TRANSFORMS["step"]) and SOURCE in messages[-1]["content"]
    assert TITLE not in messages[-1]["content"]  # a small model echoed it, or put its name on every sentence
    for _, sentences, answer in TRANSFORM_EXAMPLES:
        # each answer is what the check asks of a transformation: at most two runs of its sentences' words, no
        # word of its own, and no "so" that binds two facts by a cause (a small model copies the example's joint)
        assert pieces(key_sequence(answer), key_sequence(" ".join(sentences))) <= TRANSFORM_CHECK.max_pieces
        assert not content_stems(answer) - content_stems(" ".join(sentences))
        assert not re.search(r"\bso\b", answer)


def test_the_summary_asks_for_a_compression_of_its_sentences_not_a_free_summary():
    # "say what this paper does" had the small model write "This paper proposes a new method for ..." (new words)
    assert _TASK["summary"] == ("compress", "merge")


def test_a_reply_cut_off_before_its_predicate_is_a_fragment_not_a_compression():
    source = "The fusion module pairs depth tokens with colour tokens before decoding."
    assert _truncated("The fusion module pairs.", [source])  # cut where no clause ends
    subject = "Mirror reconstruction, aiming at rendering reflections, is a hard problem."
    assert _truncated("Mirror reconstruction, aiming at rendering reflections.", [subject])  # predicate cut off
    ends = "In addition, the module adapts to scene updates, thanks to joint learning."
    assert not _truncated("In addition, the module adapts to scene updates.", [ends])  # a clause ends there
    assert not _truncated("The fusion module pairs depth tokens with colour tokens.", [source])  # a cut object


def test_a_copy_is_asked_once_more_and_the_shortened_reply_is_kept(tmp_path):
    def copy_then_shorten(messages):
        first = _passage(messages).split(". ")[0].rstrip(".")
        if TRANSFORMS["shorten"] not in messages[-1]["content"]:
            return first + "."  # a copy: shown as the quote it is, and asked again
        words = first.split(", ", 1)[-1]
        return words[:1].upper() + words[1:] + "."

    _, p = _one(tmp_path, gen=FakeGenerator(copy_then_shorten))
    assert p.stats["retries"] > 0 and p.stats["retries_kept"] > 0
    assert p.stats["copied"] >= p.stats["retries"]
    shown = p.field("method").shown + p.field("steps").shown  # "Specifically, we first ..." -> "We first ..."
    assert any(s.kind == "compressed" and s.text.startswith("We first predict a depth map") for s in shown)

    (tmp_path / "never").mkdir()
    _, q = _one(tmp_path / "never")  # copies every time: one retry each, never kept, quotes shown
    assert q.stats["kept"] == 0 and q.stats["retries"] > 0 and q.stats["retries_kept"] == 0


def test_a_field_whose_sentences_other_fields_show_is_not_called_unstated(tmp_path):
    # three sentences: the background, the gap and what the paper does; no sentence is left for takeaways
    abstract = " ".join(ABSTRACT.split(". ")[:3]) + "."
    d, p = _one(tmp_path, abstract=abstract)
    assert not p.field("takeaways").shown and p.field("takeaways").note == "covered"
    assert p.field("workload").not_stated and p.field("workload").note == ""  # no cost sentence: not stated
    md = render(d, "md")
    takeaways = md.split("**Key Takeaways**", 1)[1].split("\n\n", 1)[0]
    assert COVERED in takeaways and NOT_STATED not in takeaways
    assert COVERED in render(d, "html")


def _fuse_reply(reply):
    def gen(messages):
        passage = _passage(messages)
        return reply if "fuse the depth maps" in passage else passage.split(". ")[0].rstrip(".") + "."
    return FakeGenerator(gen)


def _fuse_statement(p):
    return next(s for f in p.fields.values() for s in f.shown if "point cloud" in s.text)


def test_a_transformation_adds_no_word_of_its_own_but_may_use_a_synonym(tmp_path):
    """kb.digest.write.TRANSFORM_CHECK: one new content word is an invention ("dense"); a synonym is none."""
    _, p = _one(tmp_path, gen=_fuse_reply("We then fuse the depth maps into a dense point cloud that initialises "
                                          "the Gaussians."))
    s = _fuse_statement(p)
    assert s.kind == "quote" and "dense" not in s.text and any("new words" in m for m in s.verdict["missing"])
    (tmp_path / "synonym").mkdir()
    _, q = _one(tmp_path / "synonym", gen=_fuse_reply("We merge the depth maps into a point cloud that "
                                                      "initialises the Gaussians."))
    assert _fuse_statement(q).kind == "compressed" and _fuse_statement(q).text.startswith("We merge")


def test_a_transformation_reassembled_from_many_pieces_is_not_kept(tmp_path):
    from kb.grounding.align import key_sequence, pieces

    assert pieces(key_sequence("We fuse the depth maps."), key_sequence("We then fuse the depth maps into a cloud.")) == 1
    _, p = _one(tmp_path, gen=_fuse_reply("The Gaussians initialise a point cloud that fuses the depth maps."))
    s = _fuse_statement(p)  # every word is the sentence's, but who does what is reversed
    assert s.kind == "quote" and any(m.startswith("pieced") for m in s.verdict["missing"])
