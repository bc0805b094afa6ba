"""Inspection images: visibility figures match compute_visibility; QA cards for every type."""

from __future__ import annotations

import dataclasses
import io
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy.ndimage import binary_erosion
from visibility_scenes import H, W, box, build_scene, camera_looking_along_y

from mosaic.inspect import (
    STATE_COLORS,
    CardFrame,
    decode_image,
    figure_size,
    label_text,
    objects_to_draw,
    option_lines,
    render_qa_card,
    render_visibility_figure,
    write_view_figures,
)
from mosaic.inspect.visibility_figure import _HEADER, _MARGIN, footer_height
from mosaic.structures import FAMILY_OF, QA_TYPES, Frame, QAItem, Scene
from mosaic.visibility import camera_rays, compute_visibility, get_backend

# ---- an in-memory scene with every visibility state in frame 0 ---------------------------


class RenderedStore:
    """Colour frames ray-cast from the scene itself (flat colour per instance, depth shading)."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.caster = get_backend("embree").build(scene.vertices, scene.faces)

    def read_color(self, frame_id: int) -> bytes:
        f = self.scene.frame(frame_id)
        o, d, _ = camera_rays(f.K, f.cam_to_world, f.width, f.height)
        face, t = self.caster.cast(o, d)
        inst = np.where(face >= 0, self.scene.face_instance[np.maximum(face, 0)], -1)
        palette = np.random.default_rng(0).integers(60, 230, (32, 3))
        shade = np.clip(1.3 - 0.08 * np.where(np.isfinite(t), t, 10.0), 0.3, 1.0)[:, None]
        rgb = np.where(inst[:, None] >= 0, palette[np.maximum(inst, 0) % 32] * shade, 30)
        buf = io.BytesIO()
        Image.fromarray(rgb.reshape(f.height, f.width, 3).astype(np.uint8)).save(buf, "JPEG")
        return buf.getvalue()

    def read_depth(self, frame_id: int):  # pragma: no cover - not used by inspection
        raise KeyError(frame_id)


def states_scene(with_store: bool = True) -> Scene:
    """Camera at (0,-5,1) looking +y (image 160x120, f = 120): at depth d the image's left and
    right borders are at world x = -/+ 0.667 d."""
    parts = [
        ("floor", box((0, 4, -0.01), (14, 18, 0.02))),
        ("wall", box((0, 9, 2), (14, 0.1, 4))),
        ("cabinet", box((-0.6, 0, 1.0), (1.0, 0.6, 1.2))),  # full, in front of the lamp
        ("chair", box((0.0, 1.5, 0.8), (0.8, 0.8, 1.0))),  # partly behind the cabinet
        ("picture", box((-3.33, 0, 1.2), (1.0, 0.1, 0.6))),  # cut by the left border
        ("table", box((4.0, 1.0, 1.0), (1.2, 0.6, 1.0))),  # cut by the right border...
        ("box", box((2.4, -1.0, 1.0), (0.15, 0.2, 1.0))),  # ...and partly hidden by this box
        ("lamp", box((-0.6, 2.0, 1.0), (0.3, 0.3, 0.6))),  # entirely behind the cabinet
    ]
    scene = build_scene(parts, [camera_looking_along_y(), camera_looking_along_y((1, -6, 1.2))])
    if with_store:
        store = RenderedStore(scene)
        scene = dataclasses.replace(scene, store=store)
        store.scene = scene
    return scene


@pytest.fixture(scope="module")
def scene() -> Scene:
    return states_scene()


@pytest.fixture(scope="module")
def views(scene):
    return compute_visibility(scene, [0, 1], backend="embree", max_side=160)


def read_png(path) -> Image.Image:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


# ---- visibility figures ------------------------------------------------------------------


def test_scene_has_every_state(views):
    states = {o.state for o in views[0].objects}
    assert {"full", "occluded", "truncated", "occluded+truncated", "invisible"} <= states


def test_figure_annotations_are_the_visibility_records(scene, views, tmp_path):
    cats = {o.instance_id: o.category for o in scene.objects}
    for view in views:
        frame = scene.frame(view.frame_id)
        image = decode_image(scene.read_color(view.frame_id))
        fig = render_visibility_figure(view, frame, tmp_path / f"v{view.frame_id}.png",
                                       image=image, categories=cats, panel_width=320)
        im = read_png(fig.path)
        assert im.size == fig.size == figure_size(frame, 320)
        expected = [o for o in view.objects if o.visible or o.bbox_amodal is not None]
        assert [d.instance_id for d in fig.drawn] == [o.instance_id for o in expected]
        for d, rec in zip(fig.drawn, expected, strict=True):
            # exactly the numbers of compute_visibility, not recomputed or rounded
            assert d.state == rec.state
            assert d.occlusion == rec.occlusion and d.truncation == rec.truncation
            assert d.visible_ratio == rec.visible_ratio
            assert d.bbox_visible == rec.bbox_visible and d.bbox_amodal == rec.bbox_amodal
            assert d.category == cats[rec.instance_id]
            assert d.color == STATE_COLORS[rec.state]
            assert d.label == label_text(rec.instance_id, d.category, rec.occlusion,
                                         rec.truncation)
            assert f"occ {rec.occlusion:.2f} trunc {rec.truncation:.2f}" in d.label
    # structural instances and objects with no footprint in the image are not drawn
    structural = {o.instance_id for o in scene.objects if o.structural}
    assert not structural & {d.instance_id for d in fig.drawn}


def test_fully_hidden_object_is_drawn_with_its_amodal_box_only(scene, views, tmp_path):
    lamp = next(o.instance_id for o in scene.objects if o.category == "lamp")
    rec = views[0].get(lamp)
    assert rec is not None and rec.state == "invisible" and rec.bbox_amodal is not None
    fig = render_visibility_figure(views[0], scene.frame(0), tmp_path / "f.png", panel_width=320)
    (drawn,) = [d for d in fig.drawn if d.instance_id == lamp]
    assert drawn.bbox_visible is None and drawn.bbox_amodal == rec.bbox_amodal
    assert objects_to_draw(views[0]) == [
        o for o in views[0].objects if o.visible or o.bbox_amodal is not None
    ]


def test_tint_follows_the_state_colour(scene, views, tmp_path):
    """Without colour the frame is grey; each object's visible pixels carry its state tint."""
    no_store = dataclasses.replace(scene, store=None)
    view = views[0]
    (fig,) = write_view_figures(no_store, [view], tmp_path, panel_width=320)
    assert fig.path.name == f"{scene.scene_id}_frame000000.png"
    px = np.asarray(read_png(fig.path).convert("RGB")).astype(float)
    pw = 320
    assert fig.size == (2 * pw + 3 * _MARGIN,
                        _HEADER + round(pw * H / W) + footer_height(fig.size[0]))
    to_fig = pw / W  # labelling pixels are original pixels here (160 x 120, max_side 160)
    for state in ("full", "occluded", "truncated", "occluded+truncated"):
        rec = next(o for o in view.objects if o.state == state)
        # interior pixels only: box outlines run along the mask's edges
        rows, cols = np.nonzero(binary_erosion(view.instance_buffer == rec.instance_id))
        assert len(rows) >= 4, state
        fx = (_MARGIN + (cols + 0.5) * to_fig).astype(int)
        fy = (_HEADER + (rows + 0.5) * to_fig).astype(int)
        # median over the object's pixels: robust to the labels and outlines drawn on top
        got = np.median(px[fy, fx], axis=0)
        want = np.array([int(STATE_COLORS[state][i : i + 2], 16) for i in (1, 3, 5)])
        mix = 0.6 * 150 + 0.4 * want  # grey 150 under a 40 % tint
        assert np.abs(got - mix).max() < 10, (state, got, mix)
        # the right panel shows the instance buffer there, not the tint
        right = np.median(px[fy, fx + pw + _MARGIN], axis=0)
        assert np.abs(right - mix).max() > 10


# ---- QA cards ----------------------------------------------------------------------------

_OPTIONS = {
    "obj_count_occ": (("2", "3", "4", "5"), "B", "3"),
    "obj_count_occ_na": ((), "3", "3"),
    "bestview_count_occ": (("2 chair; Frame 1", "3 chair; Frame 2", "1 chair; Frame 2",
                            "3 chair; Frame 1"), "D", "3 chair; Frame 1"),
    "obj_localization_occ": (("Yes; (40,80)", "Yes; (120,30)", "No", "Yes; (10,10)"), "A",
                             "Yes; (40,80)"),
    "obj_localization_occ_na": ((), "(40,80)", "(40,80)"),
    "obj_existence_occ_ab": (("Yes", "No"), "A", "Yes"),
    "obj_existence_occ_fb": (("Yes", "No"), "B", "No"),
    "obj_existence_occ_lr": (("Yes", "No"), "A", "Yes"),
    "obj_attribute_occ_ab": (("lamp", "chair", "table", "picture"), "C", "table"),
    "obj_attribute_occ_fb": (("lamp", "chair", "table", "picture"), "A", "lamp"),
    "obj_attribute_occ_lr": (("lamp", "chair", "table", "picture"), "D", "picture"),
    "obj_spatial_occ_ab": (("The chair is above the table.", "The chair is below the table.",
                            "The chair is to the left of the table.",
                            "The chair is closer to the camera than the table."), "B",
                           "The chair is below the table."),
    "obj_spatial_occ_fb": (("A", "B", "C", "D"), "A", "A"),
    "obj_spatial_occ_lr": (("A", "B", "C", "D"), "C", "C"),
    "obj_distance_occ_na": ((), "2.4", "2.4"),
    "obj_obj_distance_occ_na": ((), "1.85", "1.85"),
    "obj_size_occ_na": ((), "120", "120"),
}


def hand_item(qtype: str, frame_ids=(0, 1), targets=(3, 4)) -> QAItem:
    options, answer, gt = _OPTIONS[qtype]
    loc = qtype.startswith("obj_localization")
    return QAItem(
        id=f"scene9000_00-{qtype}-0123456789", scene_id="scene9000_00", question_type=qtype,
        family=FAMILY_OF[qtype], frame_ids=tuple(frame_ids),
        question=f"In Frame 1, a hand-made {qtype} question long enough to need wrapping: "
        + "which of the objects seen across these frames is the one asked about here? " * 2,
        options=options, answer=answer, ground_truth=gt, overlap_avg=12.5,
        overlap_level="medium", occlusion_avg=0.4213, occ_level="medium",
        vis_level="Partially Visible", coverage="Partial Coverage",
        bbox_2d=(30.0, 70.0, 50.0, 90.0) if loc else None, bbox_2d_diag=28.28 if loc else None,
        targets=tuple(targets), template_id="t_1", seed=7,
        evidence={"named_frame": frame_ids[0]} if loc else {},
    )


@pytest.mark.parametrize("qtype", QA_TYPES)
def test_card_for_every_question_type(qtype, tmp_path):
    item = hand_item(qtype)
    rng = np.random.default_rng(0)
    frames = [
        CardFrame(0, W, H, rng.integers(0, 255, (H, W, 3), dtype=np.uint8),
                  {3: (10.0, 20.0, 60.0, 90.0), 4: (70.0, 30.0, 100.0, 60.0)}),
        CardFrame(1, W, H, None, {4: (5.0, 5.0, 40.0, 40.0)}),
    ]
    card = render_qa_card(item, frames, tmp_path / f"{qtype}.png",
                          categories={3: "cabinet", 4: "chair"}, width=600)
    im = read_png(card.path)
    assert im.size == card.size and card.size[0] == 600
    assert [(k, iid) for k, iid, _ in card.marked] == [(0, 3), (0, 4), (1, 4)]
    assert card.marked[2][2] == (5.0, 5.0, 40.0, 40.0)
    lines, correct = option_lines(item)
    assert card.option_lines == lines
    if item.options:
        assert lines[0].startswith("A. ") and correct is not None
        assert lines[correct] == f"{item.answer}. {item.options[correct]}"
    else:
        assert correct is None and card.correct_index is None
    if qtype == "obj_localization_occ":
        assert [(k, letter) for k, letter, _, _ in card.points] == [(0, "A"), (0, "B"), (0, "D")]
    elif qtype == "obj_localization_occ_na":
        assert card.points == ((0, "", 40.0, 80.0),)
    else:
        assert card.points == ()


def test_card_height_grows_with_text_and_frames_keep_order(tmp_path):
    short = dataclasses.replace(hand_item("obj_count_occ"), question="How many?")
    f = [CardFrame(i, W, H) for i in (20, 10, 30)]
    a = render_qa_card(dataclasses.replace(short, frame_ids=(20, 10, 30)), f, tmp_path / "a.png",
                       width=500)
    b = render_qa_card(dataclasses.replace(hand_item("obj_count_occ"), frame_ids=(20, 10, 30)),
                       f, tmp_path / "b.png", width=500)
    assert a.size[0] == b.size[0] == 500 and b.size[1] > a.size[1]
    assert read_png(b.path).size == b.size
    with pytest.raises(ValueError, match="frame ids"):
        render_qa_card(short, f, tmp_path / "c.png")


def test_card_shows_real_visibility_boxes(scene, views, tmp_path):
    """Card inputs built from compute_visibility: targets boxed only where visible."""
    chair = next(o.instance_id for o in scene.objects if o.category == "chair")
    lamp = next(o.instance_id for o in scene.objects if o.category == "lamp")
    frames = []
    for v in views:
        fr = scene.frame(v.frame_id)
        boxes = {t: v.get(t).bbox_visible for t in (chair, lamp)
                 if v.get(t) is not None and v.get(t).visible}
        frames.append(CardFrame(v.frame_id, fr.width, fr.height,
                                decode_image(scene.read_color(v.frame_id)), boxes))
    item = hand_item("obj_obj_distance_occ_na", frame_ids=(0, 1), targets=(chair, lamp))
    card = render_qa_card(item, frames, tmp_path / "real.png", width=480)
    assert read_png(card.path).size == card.size
    assert all(iid != lamp or k != 0 for k, iid, _ in card.marked)  # hidden in frame 0
    assert (0, chair, views[0].get(chair).bbox_visible) in card.marked


# ---- command line on a synthetic ScanNet release and a generated dataset ------------------

SPEC_KW = dict(n_frames=30, color_size=(128, 96), depth_size=(64, 48), target_faces=6000)
SCENE = "scene0000_00"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    synthetic = pytest.importorskip("mosaic.synthetic.world")
    root = tmp_path_factory.mktemp("release")
    synthetic.write_synthetic_dataset(root, n_scenes=1, seed=3,
                                      spec=synthetic.SynthSpec(**SPEC_KW), quirks=False)
    return root


@pytest.fixture(scope="module")
def dataset(release, tmp_path_factory):
    from mosaic.cli import main

    out = tmp_path_factory.mktemp("ds") / "ds"
    res = CliRunner().invoke(main, [
        "generate", "--root", str(release), "--out", str(out), "--no-progress",
        "--scenes", SCENE, "--set", "viewsets.frame_step=3", "--set", "visibility.max_side=96",
        "--set", "qa.per_type_per_scene=2",
    ])
    assert res.exit_code == 0, res.output
    return out


def test_cli_inspect_visibility_on_a_release(release, tmp_path):
    from mosaic.cli import main
    from mosaic.sources import load_scene

    out = tmp_path / "figs"
    res = CliRunner().invoke(main, ["inspect", "visibility", "--root", str(release), SCENE,
                                    "--frames", "0,5", "--out", str(out),
                                    "--set", "visibility.max_side=80",
                                    "--panel-width", "240"])
    assert res.exit_code == 0, res.output
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == [f"{SCENE}_frame000000.png", f"{SCENE}_frame000005.png"]
    scene = load_scene(release, SCENE)
    views = compute_visibility(scene, [0, 5], max_side=80)
    for p, v in zip(pngs, views, strict=True):
        assert read_png(p).size == figure_size(scene.frame(v.frame_id), 240)
        n = len(objects_to_draw(v))
        assert re.search(rf"frame {v.frame_id}: {n} objects", res.output)


def test_cli_inspect_visibility_rejects_unusable_frames(release, tmp_path):
    from mosaic.cli import main

    res = CliRunner().invoke(main, ["inspect", "visibility", "--root", str(release), SCENE,
                                    "--frames", "0,999", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "999" in res.output
    assert not list(tmp_path.glob("*.png"))


def test_cli_qa_cards_for_every_type_of_a_generated_dataset(dataset, tmp_path):
    from mosaic.cli import main
    from mosaic.io.reader import open_dataset

    with open_dataset(dataset) as ds:
        ids: dict[str, list[str]] = {}
        for qa in ds.iter_qa():
            ids.setdefault(qa.question_type, []).append(qa.id)
    assert set(ids) == set(QA_TYPES)
    for qtype, type_ids in ids.items():
        res = CliRunner().invoke(main, ["inspect", "qa", str(dataset), "--type", qtype,
                                        "--n", "1", "--out", str(tmp_path), "--width", "480"])
        assert res.exit_code == 0, res.output
        assert res.output.splitlines()[0].startswith(f"{type_ids[0]}: {qtype} -> ")
        assert len(res.output.splitlines()) == 1  # --n 1
        im = read_png(tmp_path / f"{type_ids[0]}.png")
        assert im.size[0] == 480 and im.size[1] > 200
    res = CliRunner().invoke(main, ["inspect", "qa", str(dataset), "--id", type_ids[-1],
                                    "--out", str(tmp_path / "one")])
    assert res.exit_code == 0 and [p.stem for p in (tmp_path / "one").iterdir()] == [
        type_ids[-1]]
    res = CliRunner().invoke(main, ["inspect", "qa", str(dataset), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "exactly one of --id" in res.output
    res = CliRunner().invoke(main, ["inspect", "qa", str(dataset), "--id", "nope",
                                    "--out", str(tmp_path)])
    assert res.exit_code == 1 and "no item nope" in res.output


def test_dataset_card_boxes_are_compute_visibility_boxes(release, dataset, tmp_path):
    """A card from a real dataset boxes each target where it is visible, with the box that
    compute_visibility gives for that frame at the dataset's labelling resolution."""
    from mosaic.inspect import card_frames_from_dataset, dataset_categories
    from mosaic.io.reader import open_dataset
    from mosaic.sources import load_scene

    scene = load_scene(release, SCENE)
    with open_dataset(dataset) as ds:
        index = next(i for i, qa in enumerate(ds.iter_qa())
                     if qa.question_type == "obj_obj_distance_occ_na")
        item = ds[index]
        frames = card_frames_from_dataset(ds, item)
        cats = dataset_categories(ds, item)
    assert [f.frame_id for f in frames] == list(item.qa.frame_ids)
    assert all(f.image is not None and f.image.shape[:2] == (f.height, f.width) for f in frames)
    card = render_qa_card(item.qa, frames, tmp_path / "card.png", categories=cats, width=480)
    assert read_png(card.path).size == card.size
    views = compute_visibility(scene, list(item.qa.frame_ids), max_side=96)
    expected = [
        (k, t, v.get(t).bbox_visible)
        for k, v in enumerate(views)
        for t in sorted(item.qa.targets)
        if v.get(t) is not None and v.get(t).visible
    ]
    assert expected and list(card.marked) == expected
    assert {cats[t] for t in item.qa.targets} == {scene.object(t).category
                                                  for t in item.qa.targets}


def test_concepts_doc_figure_is_the_one_its_command_writes():
    """docs/concepts.md shows the PNG its `mosaic inspect visibility` command writes (< 300 KB)."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs"
    text = (docs / "concepts.md").read_text()
    (cmd,) = [line for line in text.splitlines() if "mosaic inspect visibility" in line
              and line.startswith(".venv/bin/mosaic")]
    scene_id = cmd.split("--root ")[1].split()[1]
    frame = int(cmd.split("--frames ")[1].split()[0])
    out = cmd.split("--out ")[1].split()[0]
    name = f"{scene_id}_frame{frame:06d}.png"
    assert out == "docs/img" and f"](img/{name})" in text
    png = docs / "img" / name
    assert png.stat().st_size < 300_000
    # the synthetic release's colour frames are 640x480; the command sets 480 px panels
    assert "--panel-width 480" in cmd
    assert read_png(png).size == figure_size(Frame(frame, np.eye(3), np.eye(4), 640, 480), 480)
