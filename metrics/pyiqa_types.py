"""pyiqa's metric ``type`` names (its ``ARCH_REGISTRY`` class names, ``pyiqa/archs/*_arch.py``) → our registered
metrics and option names: the one table that reads pyiqa's ``metric_opts``.

A pyiqa entry ``{type: T, opt: value, ...}`` (``metric_opts`` of a ``--metric_opt`` file, or a metric of pyiqa's
``default_model_configs.py``) becomes one of our registered metrics plus our options (:func:`translate`):

* ``select``: the pyiqa option whose value chooses among our metrics, each with its own weights (``MUSIQ``'s
  ``pretrained`` picks ``musiq-ava`` ..., ``LPIPS``'s ``net`` ``lpips-vgg``); ``default`` when it is absent;
* ``options``: each other pyiqa option, either :class:`Rename` (one of our options, its values mapped) or
  :class:`Only` (what our implementation computes; any other value is refused, naming the one supported);
* ``implied``: values a pyiqa option must take for the chosen metric (``CFANet``'s ``use_ref`` is true exactly for
  the full-reference TOPIQ checkpoints);
* ``pretrained`` (every deep type): true, or the value ``select`` reads; ``false`` only with
  ``pretrained_model_path`` (pyiqa would otherwise score an untrained network); ``pretrained_model_path`` passes
  through to :mod:`metrics.custom_weights`;
* an option pyiqa does not have but our metric does (``precision``) passes through under its own name.

pyiqa's ``test_y_channel`` is our ``channel`` as our metrics of pyiqa's names read it: ``psnry`` is PSNR on the
``yiq`` luma (unrounded NTSC), ``ssim`` SSIM on the ``gray`` (NTSC, pyiqa's YIQ) luma, ``ssimc`` on RGB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from metrics.custom_weights import OPTION as WEIGHTS_PATH

#: pyiqa's option turning the published weights on or off (a dataset name for some architectures).
PRETRAINED = "pretrained"


@dataclass(frozen=True)
class Rename:
    """A pyiqa option that is one of ours: ``option`` (ours), values mapped by ``values`` (None: unchanged)."""

    option: str
    values: Mapping[Any, Any] | None = None


@dataclass(frozen=True)
class Only:
    """A pyiqa option our implementation supports at one value (what it computes)."""

    value: Any


@dataclass(frozen=True)
class PyiqaType:
    #: Our metric when ``select`` is absent (pyiqa's default for the architecture).
    default: str
    #: (pyiqa option, its value → our metric), or None when the type is one metric.
    select: tuple[str, Mapping[Any, str]] | None = None
    options: Mapping[str, Rename | Only] = field(default_factory=dict)
    #: our metric → {pyiqa option: the value it must have for that metric}.
    implied: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Whether the type loads trained weights (takes ``pretrained`` / ``pretrained_model_path``).
    deep: bool = False
    #: Other registered metrics of this type: the same factory with other options (``psnry`` of ``PSNR``).
    also: tuple[str, ...] = ()
    #: A second selecting option for a metric the first one chose: that metric → (pyiqa option, pyiqa's default
    #: value of it, its value → our metric). NIMA: ``base_model_name`` picks the trunk, ``train_dataset`` the weights.
    refine: Mapping[str, tuple[str, Any, Mapping[Any, str]]] = field(default_factory=dict)


_Y_SSIM = {"channels": Only(3), "downsample": Only(False), "color_space": Only("yiq")}

#: The table (pyiqa 0.1.16's architectures that we register).
PYIQA_TYPES: dict[str, PyiqaType] = {
    "PSNR": PyiqaType("psnr", None, {"test_y_channel": Rename("channel", {False: "rgb", True: "yiq"}),
                                     "data_range": Rename("data_range"), "crop_border": Only(0),
                                     "color_space": Only("yiq")}, also=("psnry",)),
    "SSIM": PyiqaType("ssim", None, {**_Y_SSIM, "test_y_channel": Rename("channel", {True: "gray", False: "rgb"}),
                                     "crop_border": Only(0)}, also=("ssimc",)),
    "MS_SSIM": PyiqaType("ms_ssim", None, {**_Y_SSIM, "test_y_channel": Only(True), "is_prod": Only(True)}),
    "CW_SSIM": PyiqaType("cw_ssim", None, {
        "channels": Only(1), "level": Rename("levels"), "ori": Rename("orientations"), "K": Rename("k"),
        "guardb": Only(0), "test_y_channel": Only(True), "color_space": Only("yiq")}),
    "GMSD": PyiqaType("gmsd", None, {"channels": Only(3), "test_y_channel": Only(True)}),
    "NLPD": PyiqaType("nlpd", None, {"channels": Only(1), "test_y_channel": Only(True), "k": Only(6)}),
    "MAD": PyiqaType("mad", None, {"channels": Only(3), "test_y_channel": Only(False)}),
    "VSI": PyiqaType("vsi", None, {"data_range": Only(1.0)}),
    "VIF": PyiqaType("vif", None, {"channels": Only(1), "level": Only(4), "ori": Only(6)}),
    "FSIM": PyiqaType("fsim", None, {"chromatic": Rename("chromatic"), "scales": Only(4), "orientations": Only(4)}),
    "BRISQUE": PyiqaType("brisque", ("version", {"original": "brisque", "matlab": "brisque_matlab"}),
                         {"test_y_channel": Only(True), "kernel_size": Only(7)}),
    "NIQE": PyiqaType("niqe", ("version", {"original": "niqe", "matlab": "niqe_matlab"}),
                      {"test_y_channel": Only(True), "channels": Only(1), "color_space": Only("yiq"),
                       "crop_border": Only(0)}),
    "NRQM": PyiqaType("nrqm"),
    "ILNIQE": PyiqaType("ilniqe", None, {"channels": Only(3), "crop_border": Only(0)}),
    "PI": PyiqaType("pi"),
    "PIQE": PyiqaType("piqe"),
    "Entropy": PyiqaType("entropy"),
    "LPIPS": PyiqaType("lpips", ("net", {"alex": "lpips", "vgg": "lpips-vgg"}),
                       {"version": Only("0.1"), "lpips": Only(True), "spatial": Only(False)}, deep=True),
    "DISTS": PyiqaType("dists", deep=True),
    "CKDN": PyiqaType("ckdn", deep=True),
    "CNNIQA": PyiqaType("cnniqa", (PRETRAINED, {"koniq10k": "cnniqa"}), deep=True),
    "DBCNN": PyiqaType("dbcnn", (PRETRAINED, {"koniq": "dbcnn"}), deep=True),
    "HyperNet": PyiqaType("hyperiqa", None, {"base_model_name": Only("resnet50")}, deep=True),
    "MUSIQ": PyiqaType("musiq", (PRETRAINED, {"koniq10k": "musiq", "ava": "musiq-ava", "spaq": "musiq-spaq",
                                              "paq2piq": "musiq-paq2piq"}), deep=True),
    "NIMA": PyiqaType(
        "nima-vgg16-ava", ("base_model_name", {"vgg16": "nima-vgg16-ava", "inception_resnet_v2": "nima"}),
        implied={"nima-vgg16-ava": {"train_dataset": "ava", "num_classes": 10}, "nima": {"num_classes": 10},
                 "nima-koniq": {"num_classes": 1}, "nima-spaq": {"num_classes": 1}},
        refine={"nima": ("train_dataset", "ava", {"ava": "nima", "koniq": "nima-koniq", "spaq": "nima-spaq"})},
        deep=True),
    "PAQ2PIQ": PyiqaType("paq2piq", None, {"backbone": Only("resnet18")}, deep=True),
    "PieAPP": PyiqaType("pieapp", None, {"patch_size": Only(64), "stride": Only(27)}, deep=True),
    "CFANet": PyiqaType(
        "topiq_nr",
        ("model_name", {"cfanet_fr_kadid_res50": "topiq_fr", "cfanet_fr_pipal_res50": "topiq_fr-pipal",
                        "cfanet_nr_koniq_res50": "topiq_nr", "cfanet_nr_spaq_res50": "topiq_nr-spaq",
                        "cfanet_nr_flive_res50": "topiq_nr-flive", "cfanet_iaa_ava_res50": "topiq_iaa_res50",
                        "cfanet_iaa_ava_swin": "topiq_iaa", "topiq_nr_cgfiqa_res50": "topiq_nr-face",
                        "topiq_nr_cgfiqa_swin": "topiq_nr_swin-face", "topiq_nr_gfiqa_res50": "topiq_nr-face-v1"}),
        {"semantic_model_name": Only("resnet50")},
        implied={"topiq_fr": {"use_ref": True}, "topiq_fr-pipal": {"use_ref": True},
                 "topiq_nr": {"use_ref": False}, "topiq_nr-spaq": {"use_ref": False},
                 "topiq_nr-flive": {"use_ref": False, "test_img_size": 384},
                 "topiq_iaa_res50": {"use_ref": False, "inter_dim": 512, "num_heads": 8, "num_class": 10,
                                     "test_img_size": 384},
                 "topiq_iaa": {"use_ref": False, "inter_dim": 512, "num_heads": 8, "num_class": 10,
                               "semantic_model_name": "swin_base_patch4_window12_384"},
                 # face checkpoints (``align_crop_face`` is their own option, pyiqa's name and default)
                 "topiq_nr-face": {"use_ref": False, "test_img_size": 512},
                 "topiq_nr-face-v1": {"use_ref": False, "test_img_size": 512},
                 "topiq_nr_swin-face": {"use_ref": False, "test_img_size": 384,
                                        "semantic_model_name": "swin_base_patch4_window12_384"}},
        deep=True),
    # pyiqa's ARNIQA takes no ``pretrained`` / ``pretrained_model_path``: its two files are fixed
    "ARNIQA": PyiqaType("arniqa", ("regressor_dataset", {
        "koniq": "arniqa", "live": "arniqa-live", "csiq": "arniqa-csiq", "tid": "arniqa-tid", "kadid": "arniqa-kadid",
        "clive": "arniqa-clive", "flive": "arniqa-flive", "spaq": "arniqa-spaq"})),
    # UNIQUE and DMM take no ``pretrained`` / ``pretrained_model_path`` in pyiqa (one fixed file; DMM trains nothing)
    "UNIQUE": PyiqaType("unique"),
    "DMM": PyiqaType("dmm", None, {"model_type": Only("dmm")}),
    # DeepDC loads only torchvision's VGG-19 (no ``pretrained`` option in pyiqa)
    "DeepDC": PyiqaType("deepdc", None, {"features_to_compute": Only(("conv1_2", "conv2_2", "conv3_4", "conv4_4",
                                                                      "conv5_4"))}),
    "MANIQA": PyiqaType(
        "maniqa-pipal", ("train_dataset", {"koniq": "maniqa", "pipal": "maniqa-pipal", "kadid": "maniqa-kadid"}),
        {"test_sample": Rename("crops")},
        implied={"maniqa": {"scale": 0.8}, "maniqa-pipal": {"scale": 0.13}, "maniqa-kadid": {"scale": 0.8}},
        deep=True),
    "AHIQ": PyiqaType("ahiq", None, {"num_crop": Rename("crops"), "crop_size": Only(224)}, deep=True),
    "LAIONAes": PyiqaType("laion_aes", deep=True),
    "MS_SWD_learned": PyiqaType("msswd", None, {"resize_input": Only(True)}, deep=True),
    "TReS": PyiqaType("tres", ("train_dataset", {"koniq": "tres", "flive": "tres-flive"}),
                      {"network": Only("resnet50"), "test_sample": Rename("crops"), "nheadt": Only(16),
                       "num_encoder_layerst": Only(2), "dim_feedforwardt": Only(64)}, deep=True),
    "STLPIPS": PyiqaType("stlpips", ("net", {"alex": "stlpips", "vgg": "stlpips-vgg"}),
                         {"variant": Only("shift_tolerant"), "lpips": Only(True), "spatial": Only(False),
                          "blur_filter_size": Only(3)}, deep=True),
    # URanker: pyiqa reads a ``pretrained_model_path`` file's state dict under ``params`` (the published file is bare)
    "URanker": PyiqaType("uranker", deep=True),
    # A-FINE: ``model_type`` picks the output; ``step`` and ``num_patch`` are unused by pyiqa (kept at its defaults)
    "AFINE": PyiqaType("afine_all_scale", ("model_type", {name: name for name in (
        "afine_nr", "afine_fr", "afine_all", "afine_all_scale")}), {
        "clip_backbone": Only("ViT-B/32"), "step": Only(32), "num_patch": Only(15)}, deep=True),
    # CLIP / vision-language family: ``model_type`` (or LIQE's ``pretrained``, Q-Align's ``dtype``) picks the metric
    "CLIPIQA": PyiqaType(
        "clipiqa", ("model_type", {name: name for name in (
            "clipiqa", "clipiqa+", "clipiqa+_vitL14_512", "clipiqa+_rn50_512")}),
        implied={"clipiqa": {"backbone": "RN50", "pos_embedding": False},
                 "clipiqa+": {"backbone": "RN50", "pos_embedding": False},
                 "clipiqa+_vitL14_512": {"backbone": "ViT-L/14", "pos_embedding": True},
                 "clipiqa+_rn50_512": {"backbone": "RN50", "pos_embedding": True}},
        deep=True),
    # CLIPScore loads OpenAI's CLIP only (no ``pretrained`` option in pyiqa); captions come with the dataset
    "CLIPScore": PyiqaType("clipscore", None, {
        "backbone": Only("ViT-B/32"), "w": Only(2.5), "prefix": Only("A photo depicts")}),
    "LIQE": PyiqaType("liqe", (PRETRAINED, {"koniq": "liqe", "mix": "liqe_mix"}), {
        "model_type": Only("liqe"), "backbone": Only("ViT-B/32"), "step": Only(32), "num_patch": Only(15),
        "mtl": Only(False)}, deep=True),
    "QualiCLIP": PyiqaType(
        "qualiclip+", ("model_type", {name: name for name in (
            "qualiclip", "qualiclip+", "qualiclip+-clive", "qualiclip+-flive", "qualiclip+-spaq")}),
        {"backbone": Only("RN50"), "temperature": Only(2), "n_ctx": Only(16), "ctx_init": Only(""),
         "prompt_specific_ctx": Only(True), "pos_embedding": Only(False)}, deep=True),
    # MA-CLIP is training-free (OpenAI's RN50, no ``pretrained`` option in pyiqa)
    "MACLIP": PyiqaType("maclip", None, {
        "model_type": Only("maclip"), "backbone": Only("RN50"), "pos_embedding": Only(False)}),
    # Q-Align loads its model repository whole (no ``pretrained`` option in pyiqa); fp16 runs at our precision
    "QAlign": PyiqaType("qalign", ("dtype", {"fp16": "qalign", "8bit": "qalign_8bit", "4bit": "qalign_4bit"})),
    # Compare2Score too; pyiqa's 8-bit and 4-bit modes of it are not built here
    "Compare2Score": PyiqaType("compare2score", None, {"dtype": Only("fp16")}),
    "WaDIQaM": PyiqaType(
        "wadiqam_fr", ("metric_type", {"FR": "wadiqam_fr", "NR": "wadiqam_nr"}), {},
        implied={"wadiqam_fr": {"model_name": "wadiqam_fr_kadid"}, "wadiqam_nr": {"model_name": "wadiqam_nr_koniq"}},
        deep=True),
}


#: pyiqa's types of the distribution metrics (scores of image sets, :mod:`metrics.distribution`): refused here with
#: a pointer to ``iqabench score``.
DISTRIBUTION_TYPES = {"FID": "fid", "InceptionScore": "inception_score"}


class PyiqaTypeError(ValueError):
    """A pyiqa ``metric_opts`` that cannot be built here; the message is one phrase (the caller names the file)."""


def known_types() -> str:
    return ", ".join(sorted(PYIQA_TYPES))


def _same(a: Any, b: Any) -> bool:
    """Equal and of one kind (True is not 1; 1 and 1.0 are one number)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _lookup(mapping: Mapping[Any, Any], value: Any) -> tuple[bool, Any]:
    for key, mapped in mapping.items():
        if _same(key, value):
            return True, mapped
    return False, None


def translate(type_name: Any, pyiqa_options: Mapping[str, Any],
              own_options_of: Callable[[str], frozenset[str] | None] | None = None,
              default: str | None = None) -> tuple[str, dict[str, Any]]:
    """(our metric, our options) for pyiqa's ``{type: type_name, **pyiqa_options}``; :class:`PyiqaTypeError` names
    the first option that cannot be honoured. ``own_options_of(metric)``: our options of the chosen metric, which
    pass through unchanged (None: any option pyiqa does not have passes through, to be checked by the metric).
    ``default``: the metric when no option selects one (else the type's default)."""
    if type_name in DISTRIBUTION_TYPES:
        from metrics.distribution.specs import refusal

        raise PyiqaTypeError(f"type {type_name}: " + refusal(DISTRIBUTION_TYPES[type_name]))
    if not isinstance(type_name, str) or type_name not in PYIQA_TYPES:
        raise PyiqaTypeError(f"unknown metric type {type_name!r} (known types: {known_types()})")
    entry = PYIQA_TYPES[type_name]
    options = dict(pyiqa_options)
    metric = default or entry.default
    key = entry.select[0] if entry.select is not None else None
    # pyiqa's `pretrained` is a dataset name where it selects weights, and true/false everywhere (read below).
    if key is not None and key in options and not (key == PRETRAINED and isinstance(options[key], bool)):
        found, chosen = _lookup(entry.select[1], options[key])
        if not found:
            accepted = ", ".join(repr(v) for v in entry.select[1])
            raise PyiqaTypeError(f"{type_name} option {key!r} must be one of {accepted}, got {options[key]!r}")
        metric = chosen
        del options[key]
    if metric in entry.refine:
        key, pyiqa_default, choices = entry.refine[metric]
        found, chosen = _lookup(choices, options.pop(key, pyiqa_default))
        if not found:
            raise PyiqaTypeError(f"{type_name} option {key!r} must be one of {', '.join(map(repr, choices))} for "
                                 f"{metric}, got {pyiqa_options[key]!r}")
        metric = chosen
    own_options = own_options_of(metric) if own_options_of is not None else None
    ours: dict[str, Any] = {}
    if entry.deep and PRETRAINED in options:
        pretrained = options.pop(PRETRAINED)
        if not isinstance(pretrained, bool):
            raise PyiqaTypeError(f"{type_name} option {PRETRAINED!r} must be true or false, got {pretrained!r}")
        if not pretrained and WEIGHTS_PATH not in options:
            raise PyiqaTypeError(f"{type_name} option {PRETRAINED!r} is false without {WEIGHTS_PATH!r}: pyiqa would "
                                 "score an untrained network with random weights; give the checkpoint to score")
    for key, value in options.items():
        rule = entry.options.get(key)
        if key in entry.implied.get(metric, {}):
            if not _same(value, entry.implied[metric][key]):
                raise PyiqaTypeError(f"{type_name} option {key!r} must be {entry.implied[metric][key]!r} for "
                                     f"{metric}, got {value!r}")
        elif isinstance(rule, Only):
            if not _same(value, rule.value):
                raise PyiqaTypeError(f"{type_name} option {key!r}: only {rule.value!r} is supported here (what "
                                     f"{metric} computes), got {value!r}")
        elif isinstance(rule, Rename):
            if rule.values is not None:
                found, value = _lookup(rule.values, value)
                if not found:
                    raise PyiqaTypeError(f"{type_name} option {key!r} must be one of "
                                         f"{', '.join(map(repr, rule.values))}, got {options[key]!r}")
            ours[rule.option] = value
        elif (key == WEIGHTS_PATH and entry.deep) or own_options is None or key in own_options:
            ours[key] = value
        else:
            pyiqa_names = sorted({*entry.options, *(k for v in entry.implied.values() for k in v),
                                  *([entry.select[0]] if entry.select else []),
                                  *([PRETRAINED, WEIGHTS_PATH] if entry.deep else [])})
            raise PyiqaTypeError(f"{type_name} has no option {key!r} here (pyiqa options: "
                                 f"{', '.join(pyiqa_names) or 'none'}; {metric}'s own: "
                                 f"{', '.join(sorted(own_options)) or 'none'})")
    return metric, ours


def pyiqa_form(metric: str) -> tuple[str, dict[str, Any]] | None:
    """(pyiqa type, the pyiqa options that choose it) of our registered ``metric``, or None when the table has no
    type building it (so ``--extra_metric_opts`` can be read in pyiqa's terms for a metric named with ``-m``)."""
    for type_name, entry in PYIQA_TYPES.items():
        for parent, (key, _, choices) in entry.refine.items():
            for value, chosen in choices.items():
                parent_form = pyiqa_form(parent) if chosen == metric != parent else None
                if parent_form is not None:
                    return type_name, {**parent_form[1], key: value}
        if entry.select is not None:
            for value, chosen in entry.select[1].items():
                if chosen == metric:
                    return type_name, {entry.select[0]: value}
        if metric in (entry.default, *entry.also):
            return type_name, {}
    return None
