"""`kb eval-grounding`: reading labelled claims, scoring the check's verdicts against them, the command."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kb.backends.embedders import HashEmbedder
from kb.grounding.evaluate import LabelledClaim, evaluate_claims, judge_claim, read_claims, reference_passages
from kb.grounding.types import Verdict
from kb.types import KbError
from kb_cli.app import app

REF = ("Title: Harbor Lights\n\nHarbor Lights is a 1987 novel by Mara Quill. It follows a lighthouse keeper on the "
       "island of Vell who records the passing ships for forty years.")
ROWS = [
    {"claim": "Harbor Lights is a 1987 novel by Mara Quill.", "references": [REF],
     "attribution_label": "attributable", "src_dataset": "Books", "question": "ignored"},
    {"claim": "Harbor Lights is a 1992 film directed by Mara Quill.", "references": [REF],
     "attribution_label": "not attributable", "src_dataset": "Books"},
    {"claim": "The keeper records the passing ships on the island of Vell.", "references": ["x", REF],
     "attribution_label": "attributable", "src_dataset": "Islands"},
    {"claim": "The lighthouse keeper was the first to map the island of Vell.", "references": [REF],
     "attribution_label": "not attributable", "src_dataset": "Islands"},
]


def write(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_read_claims_and_reference_titles(tmp_path):
    claims = read_claims(write(tmp_path / "c.jsonl", ROWS))
    assert [c.attributable for c in claims] == [True, False, True, False]
    assert claims[0].group == "Books" and claims[2].references == ["x", REF]
    p = reference_passages([REF])[0]
    assert p.title == "Harbor Lights" and p.text.startswith("Harbor Lights is a 1987")


def test_audit_format_is_read_too(tmp_path):
    row = {"statement": "S.", "cited": [{"n": 1, "text": "T."}], "label": "PARTIAL", "paper": "P", "why": "w"}
    (c,) = read_claims(write(tmp_path / "a.jsonl", [row]))
    assert c.claim == "S." and c.references == ["T."] and not c.attributable and c.group == "PARTIAL"


@pytest.mark.parametrize("line,needle", [
    ("{not json", "not valid JSON"),
    (json.dumps({"claim": "x", "references": "y", "attribution_label": "attributable"}), "references"),
    (json.dumps({"claim": "x", "references": [], "attribution_label": "maybe"}), "attribution_label"),
    (json.dumps({"text": "x"}), "needs 'claim'"),
])
def test_a_bad_line_names_file_and_line(tmp_path, line, needle):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n\n" + line + "\n")
    with pytest.raises(KbError) as e:
        read_claims(path)
    assert f"{path}:3:" in str(e.value) and needle in str(e.value)


def test_scores_count_kept_and_rejected_by_label():
    claims = [LabelledClaim(f"c{i}", ["r"], att, "A" if i < 4 else "B") for i, att in
              enumerate([True, True, True, False, False, False])]
    kept = {"c0", "c1", "c3"}  # 2 true kept, 1 false kept, 1 true rejected, 2 false rejected

    def judge(c, embedder, thresholds):
        return Verdict("supported" if c.claim in kept else "unsupported", 0, 0, 0)

    d = evaluate_claims(claims, HashEmbedder(), judge=judge).to_dict()
    assert (d["n"], d["kept"], d["attributable"]) == (6, 3, 3)
    assert d["kept_precision"] == round(2 / 3, 4) and d["recall"] == round(2 / 3, 4)
    assert d["reject_precision"] == round(2 / 3, 4) and d["macro_f1"] == round(2 / 3, 4)
    assert d["groups"]["A"]["n"] == 4 and d["groups"]["B"]["kept"] == 0
    assert d["groups"]["B"]["kept_precision"] is None


def test_the_check_keeps_the_attributable_claims_and_rejects_the_others():
    emb = HashEmbedder()
    claims = [LabelledClaim(r["claim"], r["references"], r["attribution_label"] == "attributable") for r in ROWS]
    assert [judge_claim(c, emb).supported for c in claims] == [c.attributable for c in claims]


def test_cli_eval_grounding(kb_env, tmp_path):
    path = write(tmp_path / "c.jsonl", ROWS)
    r = CliRunner().invoke(app, ["eval-grounding", str(path), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["n"] == 4 and d["kept_precision"] == 1.0 and d["recall"] == 1.0 and set(d["groups"]) == {"Books",
                                                                                                      "Islands"}
    text = CliRunner().invoke(app, ["eval-grounding", str(path)])
    assert text.exit_code == 0 and "Islands" in text.stdout and "kept-P" in text.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    r = CliRunner().invoke(app, ["eval-grounding", str(bad)])
    assert r.exit_code == 1 and f"{bad}:1:" in r.output
