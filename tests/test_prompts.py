"""The prompt text, character for character as SpatialMosaic's lmms-eval task builds it
(``vsibench_doc_to_text`` in ``thinking-in-space/lmms_eval/tasks/spatial_mosaic/indoor/utils.py``
with the ``default`` settings of ``indoor.yaml``: ``pre_prompt: ""`` falls back to "These are
frames of a video.", no ``na_local_post_prompt`` falls back to the coordinate sentence)."""

from __future__ import annotations

import pytest

from mosaic.prompts import PromptStyle, answer_text, build_prompt, option_strings
from mosaic.structures import FAMILY_OF, QAItem


def item(qtype: str, options=(), answer="A", gt="3") -> QAItem:
    return QAItem(
        id="x", scene_id="scene0000_00", question_type=qtype, family=FAMILY_OF[qtype],
        frame_ids=(0, 10), question="How many chairs?", options=tuple(options), answer=answer,
        ground_truth=gt, overlap_avg=3.0, overlap_level="medium", occlusion_avg=0.5,
        occ_level="high", vis_level="Partially Visible", coverage="Full Coverage",
        bbox_2d=None, bbox_2d_diag=None, targets=(1,), template_id="t", seed=0,
    )


def test_multiple_choice_prompt():
    it = item("obj_count_occ", options=("3", "1", "2", "4"))
    assert option_strings(it) == ["A. 3", "B. 1", "C. 2", "D. 4"]
    assert build_prompt(it) == (
        "These are frames of a video.\n"
        "How many chairs?\n"
        "Options:\n"
        "A. 3\nB. 1\nC. 2\nD. 4\n"
        "Answer with the option's letter from the given choices directly."
    )
    assert answer_text(it) == "A"


def test_yes_no_is_multiple_choice_too():
    it = item("obj_existence_occ_lr", options=("Yes", "No"), answer="B", gt="No")
    assert build_prompt(it).endswith("Options:\nA. Yes\nB. No\n"
                                     "Answer with the option's letter from the given choices "
                                     "directly.")
    assert answer_text(it) == "B"


@pytest.mark.parametrize(("qtype", "answer", "post"), [
    ("obj_size_occ_na", "120", "Please answer the question using a single word or phrase."),
    ("obj_localization_occ_na", "(3,4)",
     "Please answer with the coordinate pair only, formatted as (x,y)."),
])
def test_open_prompts_have_no_options_block(qtype, answer, post):
    it = item(qtype, answer=answer, gt=answer)
    assert build_prompt(it) == f"These are frames of a video.\nHow many chairs?\n{post}"
    assert answer_text(it) == answer


def test_their_api_model_settings():
    # indoor.yaml's gemini_api / gpt4v settings change only the numeric post-prompt
    style = PromptStyle(na_post_prompt="Do not response anything other than a single number!")
    assert build_prompt(item("obj_count_occ_na", gt="2"), style).endswith(
        "\nDo not response anything other than a single number!")
