"""What the README and docs/demo.md say about the demo agrees with the run
they quote (docs/demo/results.json, copied from runs/demo/ of that run).

The table is rebuilt from the JSON's per-run records and the verdicts are
recomputed from it by the demo's own code; the docs must show that table
and, wherever they name a question (**RQ1** ...) or the control, that
question's verdict.
"""

import json
import os
import re

import pytest

from conv_t5.experiments import spec as spec_lib
from conv_t5.experiments import table as table_lib
from conv_t5.experiments import verdicts as verdicts_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "docs", "demo", "results.json")
DOCS = [os.path.join(REPO, "README.md"), os.path.join(REPO, "docs", "demo.md")]
QUESTION = re.compile(r"\*\*(RQ\d|control)\*\*")
VERDICT = re.compile(r"\*\*(supported|contradicted|inconclusive|not run)\*\*")


@pytest.fixture(scope="module")
def quoted():
  with open(RESULTS) as f:
    return json.load(f)


def _rebuilt(data):
  return table_lib.build(data["runs"], split=data["split"],
                         archs=data["grid"]["archs"],
                         pair_task=data["pair_task"], note=data["note"])


def test_the_quoted_table_and_verdicts_follow_from_its_records(quoted):
  table = _rebuilt(quoted)
  for key in ("rows", "tasks", "pair_task", "split"):
    assert table[key] == quoted[key], key
  control, found = verdicts_lib.compute(table)
  assert control == quoted["control"]
  assert found == quoted["verdicts"]
  assert quoted["rule"] == verdicts_lib.RULE


def test_results_md_is_the_json_rendered(quoted):
  shown = dict(control=quoted["control"], **quoted["verdicts"])
  expected = table_lib.to_markdown(quoted, verdicts=shown)
  with open(os.path.join(REPO, "docs", "demo", "results.md")) as f:
    assert f.read().strip() == expected.strip()
  with open(os.path.join(REPO, "docs", "demo", "results.png"), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("path", DOCS, ids=os.path.basename)
def test_docs_show_the_quoted_table(quoted, path):
  text = open(path).read()
  table = table_lib.to_markdown(quoted)
  rows = [l for l in table.splitlines() if l.startswith("|")]
  for row in rows:
    assert row in text, (path, row)


@pytest.mark.parametrize("path", DOCS, ids=os.path.basename)
def test_every_verdict_the_docs_state_is_the_runs(quoted, path):
  found = dict(control=quoted["control"], **quoted["verdicts"])
  named = set()
  for line in open(path).read().splitlines():
    questions = QUESTION.findall(line)
    stated = VERDICT.findall(line)
    if not questions or not stated:
      continue
    assert len(questions) == 1 and len(stated) == 1, (
        f"{path}: one question and one verdict per line: {line}")
    assert stated[0] == found[questions[0]]["verdict"], (path, line)
    named.add(questions[0])
  assert named == set(found), (path, sorted(named))


CONTROL_TRANSFER = os.path.join(REPO, "docs", "demo", "control_transfer")


def _fmt(stat):
  return f"{stat['mean']:+.1f} ± {stat['half']:.1f}"


def test_the_control_transfer_run_is_its_gin_file_and_the_docs_quote_it():
  """docs/demo/control_transfer/ is the run of gin/demo/control_transfer.gin
  (the default recipe, 16,000 pre-training steps); its table and control
  verdict follow from its records, and the gain the README and docs/demo.md
  state is the one the records give."""
  with open(os.path.join(CONTROL_TRANSFER, "results.json")) as f:
    data = json.load(f)
  spec = spec_lib.spec_from_gin(["demo/control_transfer.gin"])
  default = spec_lib.spec_from_gin(["demo/own_pretraining.gin"])
  # Through from_json: a GridSpec field added since (at its default, as
  # pretrained_from) is no difference.
  assert spec_lib.GridSpec.from_json(data["grid"]).to_json() == spec.to_json()
  assert list(spec.archs) == list(spec.scratch_archs) == ["transformer"]
  assert spec.pretrain_steps == 40 * default.pretrain_steps
  assert spec.finetune_steps == default.finetune_steps
  assert spec.seeds == default.seeds
  table = _rebuilt(data)
  assert table["rows"] == data["rows"]
  control, _ = verdicts_lib.compute(table)
  assert control == data["control"]
  shown = dict(control=data["control"], **data["verdicts"])
  with open(os.path.join(CONTROL_TRANSFER, "results.md")) as f:
    assert f.read().strip() == table_lib.to_markdown(
        data, verdicts=shown).strip()
  gain = _fmt(control["comparisons"][0]["difference"])
  for path in DOCS:
    assert f"{gain} points" in open(path).read(), (path, gain)


def test_the_lightweight_run_at_the_same_length_and_the_docs_quote_it():
  """docs/demo/control_transfer/conv_lightweight/ is the same recipe for the
  lightweight convolution; its gain, and its difference from the pre-trained
  Transformer of the control's run (computed by the demo's verdict code on
  the two runs' records), are the figures the README and docs/demo.md state."""
  with open(os.path.join(CONTROL_TRANSFER, "results.json")) as f:
    control_run = json.load(f)
  with open(os.path.join(CONTROL_TRANSFER, "conv_lightweight",
                         "results.json")) as f:
    data = json.load(f)
  spec = spec_lib.spec_from_gin(
      ["demo/control_transfer.gin"],
      ["GridSpec.archs = ['conv_lightweight']",
       "GridSpec.scratch_archs = ['conv_lightweight']"])
  # Through from_json: a GridSpec field added since (at its default, as
  # pretrained_from) is no difference.
  assert spec_lib.GridSpec.from_json(data["grid"]).to_json() == spec.to_json()
  both = table_lib.build(control_run["runs"] + data["runs"],
                         split=data["split"],
                         archs=control_run["grid"]["archs"]
                         + data["grid"]["archs"],
                         pair_task=data["pair_task"], note=data["note"])
  _, found = verdicts_lib.compute(both)
  assert found["RQ1"] == data["verdicts"]["RQ1"]
  figures = [_fmt(found[q]["comparisons"][0]["difference"])
             for q in ("RQ1", "RQ2")]
  for path in DOCS:
    text = open(path).read()
    for figure in figures:
      assert f"{figure} points" in text, (path, figure)
