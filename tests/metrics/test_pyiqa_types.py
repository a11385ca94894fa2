"""The table from pyiqa's metric ``type`` names to our metrics (metrics/pyiqa_types.py), checked against pyiqa
0.1.16's own ``default_model_configs.py`` and against our registry."""

from __future__ import annotations

import inspect

import pytest

import metrics
from metrics.pyiqa_types import PYIQA_TYPES, PyiqaTypeError, pyiqa_form, translate
from orchestrator.run.metric_options import own_options


def _built(metric: str, options: dict) -> tuple:
    """What a metric computes: its factory and its full, checked option set."""
    spec = metrics.get_spec(metric)
    return spec.factory, metrics.check_options(metric, options)


def _named(entry) -> set[str]:
    """Every metric a table entry names: its default, ``also``, and what its selecting options choose."""
    return {entry.default, *entry.also, *(entry.select[1].values() if entry.select else ()),
            *(metric for _, _, choices in entry.refine.values() for metric in choices.values())}


def test_every_metric_of_the_table_is_registered():
    registered = set(metrics.available())
    for type_name, entry in PYIQA_TYPES.items():
        named = _named(entry)
        assert named <= registered, (type_name, named - registered)


def test_pyiqa_default_configs_build_what_our_metric_of_the_same_name_builds():
    """For every registered metric pyiqa also ships, pyiqa's own ``metric_opts`` read through the table build the
    same factory with the same options as our metric of that name (``psnry``: PSNR on the unrounded YIQ luma ...)."""
    pytest.importorskip("pyiqa")
    from pyiqa.default_model_configs import DEFAULT_CONFIGS

    checked = []
    for name in metrics.available():
        config = DEFAULT_CONFIGS.get(name)
        if config is None:
            continue
        assert config["metric_opts"]["type"] in PYIQA_TYPES, f"{name}: pyiqa's type is not in the table"
        opts = dict(config["metric_opts"])
        metric, ours = translate(opts.pop("type"), opts, own_options)
        assert _built(metric, ours) == _built(name, {}), name
        assert metrics.get_spec(metric).mode == config["metric_mode"], name
        checked.append(name)
    assert {"psnr", "psnry", "ssim", "ssimc", "lpips", "lpips-vgg", "musiq-ava", "topiq_fr", "wadiqam_nr"} <= set(checked)
    assert {"lpips+", "lpips-vgg+", "topiq_nr-flive", "topiq_iaa_res50", "nima", "nima-koniq", "nima-spaq",
            "arniqa", "arniqa-live", "arniqa-spaq"} <= set(checked)
    assert {"unique", "msswd", "dmm", "afine_nr", "afine_fr", "afine_all", "afine_all_scale"} <= set(checked)
    assert {"topiq_iaa", "topiq_nr-face", "topiq_nr_swin-face", "topiq_nr-face-v1"} <= set(checked)
    assert {"tres", "tres-flive", "stlpips", "stlpips-vgg", "deepdc"} <= set(checked)
    assert {"clipiqa", "clipiqa+_vitL14_512", "liqe_mix", "clipscore", "qualiclip+-spaq", "maclip", "qalign_4bit",
            "compare2score"} <= set(checked)


def test_every_registered_metric_of_the_table_reads_back_in_pyiqa_terms():
    for type_name, entry in PYIQA_TYPES.items():
        for metric in _named(entry):
            form = pyiqa_form(metric)
            assert form is not None and form[0] == type_name, metric
            built, _ = translate(form[0], form[1], own_options, default=metric)
            assert built == metric


def test_an_unknown_type_names_every_known_type():
    with pytest.raises(PyiqaTypeError) as info:
        translate("CustomModel", {})
    message = str(info.value)
    assert message.startswith("unknown metric type 'CustomModel' (known types: ") and "\n" not in message
    assert all(name in message for name in PYIQA_TYPES)


@pytest.mark.parametrize("type_name,options,expected", [
    ("PSNR", {"crop_border": 4}, "PSNR option 'crop_border': only 0 is supported here (what psnr computes), got 4"),
    ("PSNR", {"test_y_channel": "yes"}, "PSNR option 'test_y_channel' must be one of False, True, got 'yes'"),
    ("MUSIQ", {"pretrained": "flive"}, "MUSIQ option 'pretrained' must be one of 'koniq10k', 'ava', 'spaq', 'paq2piq'"),
    ("CFANet", {"model_name": "cfanet_nr_koniq_res50", "use_ref": True}, "'use_ref' must be False for topiq_nr"),
    ("CNNIQA", {"pretrained": False}, "pyiqa would score an untrained network"),
    ("NIMA", {"base_model_name": "inception_resnet_v2", "train_dataset": "flive"},
     "NIMA option 'train_dataset' must be one of 'ava', 'koniq', 'spaq' for nima, got 'flive'"),
    ("NIMA", {"train_dataset": "koniq"}, "NIMA option 'train_dataset' must be 'ava' for nima-vgg16-ava"),
    ("CFANet", {"model_name": "cfanet_nr_flive_res50", "test_img_size": 512},
     "'test_img_size' must be 384 for topiq_nr-flive"),
    ("CFANet", {"model_name": "cfanet_iaa_ava_swin", "semantic_model_name": "resnet50"},
     "'semantic_model_name' must be 'swin_base_patch4_window12_384' for topiq_iaa"),
    ("NIQE", {"pretrained_model_path": "/x.mat"}, "NIQE has no option 'pretrained_model_path' here"),
    ("PSNR", {"window": 3}, "PSNR has no option 'window' here (pyiqa options: color_space, crop_border, data_range, "
                            "test_y_channel; psnr's own: channel, data_range)"),
])
def test_options_that_cannot_be_honoured_are_named(type_name, options, expected):
    with pytest.raises(PyiqaTypeError) as info:
        translate(type_name, options, own_options)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_selection_translation_and_pass_through():
    assert translate("PSNR", {"test_y_channel": True}, own_options) == ("psnr", {"channel": "yiq"})
    assert translate("MUSIQ", {"pretrained": "spaq"}, own_options) == ("musiq-spaq", {})
    assert translate("LPIPS", {"net": "vgg", "version": "0.1", "precision": "bfloat16"}, own_options) == (
        "lpips-vgg", {"precision": "bfloat16"})
    assert translate("CW_SSIM", {"level": 3, "ori": 6, "K": 0.01}, own_options) == (
        "cw_ssim", {"levels": 3, "orientations": 6, "k": 0.01})
    assert translate("CNNIQA", {"pretrained": False, "pretrained_model_path": "w.pth"}, own_options) == (
        "cnniqa", {"pretrained_model_path": "w.pth"})
    # NIMA: base_model_name picks the trunk, then train_dataset (pyiqa's default: ava) the weights
    assert translate("NIMA", {"base_model_name": "inception_resnet_v2", "train_dataset": "spaq", "num_classes": 1},
                     own_options) == ("nima-spaq", {})
    assert translate("NIMA", {"base_model_name": "inception_resnet_v2"}, own_options) == ("nima", {})
    assert translate("ARNIQA", {"regressor_dataset": "tid"}, own_options) == ("arniqa-tid", {})
    # a selecting option given as the default metric keeps the metric it was asked for
    assert translate("PSNR", {}, own_options, default="psnry") == ("psnry", {})


def test_the_table_reads_only_options_the_factories_take():
    for type_name, entry in PYIQA_TYPES.items():
        for rule in entry.options.values():
            option = getattr(rule, "option", None)
            if option is not None:
                params = inspect.signature(metrics.get_spec(entry.default).factory).parameters
                assert option in params, (type_name, option)


@pytest.mark.parametrize("align", [True, False])
def test_face_alignment_is_the_face_metrics_own_option(align):
    """pyiqa's ``align_crop_face`` (default True) passes through to the face checkpoints under its own name."""
    metric, ours = translate("CFANet", {"model_name": "topiq_nr_gfiqa_res50", "align_crop_face": align}, own_options)
    assert metric == "topiq_nr-face-v1" and ours == {"align_crop_face": align}
    assert metrics.check_options(metric, ours)["align_crop_face"] is align
