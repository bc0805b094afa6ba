"""The text a model is shown for a question, exactly as SpatialMosaic's evaluation builds it.

SpatialMosaic's lmms-eval task (``thinking-in-space/lmms_eval/tasks/spatial_mosaic/indoor/``
``utils.py`` and ``indoor.yaml`` of ``Kanghee-Lee/SpatialMosaic-project``) builds the prompt
from a pre-prompt, the question and, for multiple choice, an ``Options:`` block and a
post-prompt, joined by newlines; which post-prompt depends on the question type. With its
default settings (``docs/data_format.md``, "Prompts")::

    These are frames of a video.
    <question>
    Options:
    A. <option>
    B. <option>
    Answer with the option's letter from the given choices directly.

Open-answer types have no ``Options:`` block and end with ``Please answer the question using a
single word or phrase.`` (numbers) or ``Please answer with the coordinate pair only, formatted
as (x,y).`` (``obj_localization_occ_na``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .structures import NUMERIC_TYPES, OPTION_LETTERS, POINT_TYPES, QAItem


@dataclass(frozen=True)
class PromptStyle:
    """The four texts their task takes from its settings (``lmms_eval_specific_kwargs``).

    The defaults are what their task uses when a setting is empty: ``indoor.yaml`` sets
    ``pre_prompt`` to ``""`` (so the fallback sentence is used), gives the two post-prompts
    below and no ``na_local_post_prompt``.
    """

    pre_prompt: str = "These are frames of a video."
    mca_post_prompt: str = "Answer with the option's letter from the given choices directly."
    na_post_prompt: str = "Please answer the question using a single word or phrase."
    na_local_post_prompt: str = (
        "Please answer with the coordinate pair only, formatted as (x,y)."
    )


DEFAULT_STYLE = PromptStyle()


def option_strings(item: QAItem) -> list[str]:
    """Options with their letters as SpatialMosaic displays them: ``["A. 3", "B. 5", ...]``."""
    return [f"{OPTION_LETTERS[i]}. {opt}" for i, opt in enumerate(item.options)]


def build_prompt(item: QAItem, style: PromptStyle = DEFAULT_STYLE) -> str:
    """The full text for one item (without image tokens), newline-joined as theirs."""
    if item.question_type in NUMERIC_TYPES:
        return "\n".join([style.pre_prompt, item.question, style.na_post_prompt])
    if item.question_type in POINT_TYPES:
        return "\n".join([style.pre_prompt, item.question, style.na_local_post_prompt])
    options = "Options:\n" + "\n".join(option_strings(item))
    return "\n".join([style.pre_prompt, item.question, options, style.mca_post_prompt])


def answer_text(item: QAItem) -> str:
    """What a model should reply: the value for open-answer types, else the letter."""
    if item.question_type in NUMERIC_TYPES or item.question_type in POINT_TYPES:
        return item.ground_truth
    return item.answer
