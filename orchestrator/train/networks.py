"""The trainable networks: the modules the metrics score with (``metrics/deep``), whose state dicts have pyiqa's
keys, so a trained checkpoint saved as ``{"params": state_dict}`` is what pyiqa and ``pretrained_model_path``
load.

pyiqa's ``network.type`` names map to our metric names. Initialisation follows pyiqa's architectures:

* CNNIQA: PyTorch's default initialisation of its layers.
* DBCNN: VGG-16 from ImageNet and the S-CNN from its pre-training file (``pretrained_backbone: true``, pyiqa's
  behaviour; the files come from the weight store, ``iqabench weights download dbcnn``) or randomly
  (``pretrained_backbone: false``); the linear layer Kaiming-normal with zero bias; the two streams are frozen
  until the fine-tune phase (pyiqa's ``fc: true``).
* NIMA: the trunk (``base_model_name``: ``vgg16``, pyiqa's default, for ``nima-vgg16-ava``, or
  ``inception_resnet_v2`` for ``nima``) from ImageNet (``pretrained_backbone: true``: torchvision's VGG-16 file,
  the weights timm's ``vgg16`` loads in pyiqa; no ImageNet Inception-ResNet-v2 file is in the weight store, so that
  trunk starts random and ``pretrained_backbone: false`` must say so) or randomly (VGG-16 as torchvision
  initialises it: Kaiming normal, fan out, zero biases); the classifier (dropout
  ``dropout_rate``, linear to the 10 ratings, softmax) with PyTorch's default initialisation. It predicts the
  distribution of votes, trained with ``EMDLoss`` against the normalised vote histogram (AVA).
* HyperNet (``hyperiqa``): the ResNet-50 from ImageNet (``pretrained_backbone: true``: torchvision's
  ``IMAGENET1K_V1`` file, the backbone of the authors' code; pyiqa starts from timm's ResNet-50 instead) or
  randomly; the local distortion-aware modules and the hyper network with PyTorch's default initialisation. It is
  trained on one random crop per image (pyiqa's option: 224×224; other crops are resized to 224×224, bicubic, as
  pyiqa's network does) and validated on the 5×5 grid of crops the metric scores.
* WaDIQaM: PyTorch's default initialisation, or the weights of ``pretrained_model_path`` (a ``{"params": ...}``
  file; with ``load_feature_weight_only: true`` only its ``features.*``, as pyiqa's WaDIQaM-NR starts from the
  trunk of a trained WaDIQaM-FR). ``metric_type`` (FR, pyiqa's default, or NR) picks the metric trained,
  ``train_patch_num`` the random 32×32 patches per image and iteration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from metrics import custom_weights


@dataclass(frozen=True)
class TrainableNetwork:
    metric: str
    mode: str  # NR or FR
    #: Options of ``network:`` this network takes, with their defaults (``type`` aside).
    options: dict[str, Any]
    #: Smallest input side the network accepts (given its options, when it depends on them).
    min_size: int | Callable[[dict[str, Any]], int]
    build: Callable[[dict[str, Any]], nn.Module]
    predicts_distribution: bool = False
    #: When one network type trains several metrics: the option choosing, and its value → (metric, mode).
    variants: tuple[str, dict[Any, tuple[str, str]]] | None = None
    #: Parameter groups the network's pyiqa model names otherwise than by a substring (``lr_<part>``).
    parameter_parts: dict[str, Callable[[str], bool]] = field(default_factory=dict)
    #: Why a combination of (type-checked) options cannot be trained, one line each, without the location.
    check: Callable[[dict[str, Any]], list[str]] | None = None

    def trains(self, options: dict[str, Any]) -> tuple[str, str]:
        """(metric, mode) the network trains with ``options`` (validated)."""
        if self.variants is None:
            return self.metric, self.mode
        option, table = self.variants
        return table[options[option]]

    def smallest_input(self, options: dict[str, Any]) -> int:
        return self.min_size(options) if callable(self.min_size) else self.min_size

    def metrics(self) -> dict[str, dict[str, Any]]:
        """Each metric this network trains → the network options that make it train that metric."""
        if self.variants is None:
            return {self.metric: {}}
        option, table = self.variants
        return {metric: {option: value} for value, (metric, _) in table.items()}


def _cnniqa(options: dict[str, Any]) -> nn.Module:
    from metrics.deep.cnniqa import CNNIQANet

    return CNNIQANet()


def _dbcnn(options: dict[str, Any]) -> nn.Module:
    from metrics.deep import weights
    from metrics.deep.dbcnn import DBCNNNet
    from metrics.deep.weights import WeightFile, load_module

    net = DBCNNNet()
    if options["pretrained_backbone"]:
        vgg = weights.load(WeightFile.torchvision("VGG16_Weights.IMAGENET1K_V1"))
        load_module(net.features1, vgg, prefix="features.", ignore=("30",))
        scnn_file = options.get("pretrained_scnn_path")
        scnn_wf = WeightFile(DBCNN_SCNN_FILE)
        scnn = custom_weights.load(scnn_wf, Path(scnn_file)) if scnn_file else weights.load(scnn_wf)
        load_module(net.features2, scnn, prefix="features.")
    nn.init.kaiming_normal_(net.fc.weight)
    nn.init.zeros_(net.fc.bias)
    for part in (net.features1, net.features2):
        part.requires_grad_(False)
    return net


def _nima(options: dict[str, Any]) -> nn.Module:
    import dataclasses

    from metrics.deep import weights
    from metrics.deep.nima import BINS, NIMANet
    from metrics.deep.weights import WeightFile, load_module

    net = NIMANet(options["base_model_name"], BINS, float(options["dropout_rate"]))
    if options["pretrained_backbone"]:
        vgg = weights.load(WeightFile.torchvision("VGG16_Weights.IMAGENET1K_V1"))
        renamed = {key.replace("features.", "features_", 1): value for key, value in vgg.state_dict.items()
                   if key.startswith("features.")}  # torchvision's names → timm's feature-net names
        load_module(net.base_model, dataclasses.replace(vgg, state_dict=renamed))
    elif options["base_model_name"] == "vgg16":  # torchvision's VGG initialisation, for a trunk trained from scratch
        for layer in net.base_model:
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(layer.bias)
    return net


def _hypernet(options: dict[str, Any]) -> nn.Module:
    from metrics.deep import weights
    from metrics.deep.hyperiqa import HyperNet
    from metrics.deep.weights import WeightFile, load_module

    net = HyperNet()
    if options["pretrained_backbone"]:
        resnet = weights.load(WeightFile.torchvision("ResNet50_Weights.IMAGENET1K_V1"))
        load_module(net.base_model, resnet, ignore=("fc.",))
    return net


def _hypernet_check(options: dict[str, Any]) -> list[str]:
    if options["base_model_name"] != "resnet50":
        return [f"base_model_name: only resnet50 (pyiqa's and the published model's), got {options['base_model_name']!r}"]
    return []


def _nima_check(options: dict[str, Any]) -> list[str]:
    problems = []
    if options["base_model_name"] == "inception_resnet_v2" and options["pretrained_backbone"]:
        problems.append("pretrained_backbone: no ImageNet Inception-ResNet-v2 file is in the weight store; set it "
                        "to false (the trunk starts random)")
    rate = options["dropout_rate"]
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate < 1:
        problems.append(f"dropout_rate: must be a number in [0, 1), got {rate!r}")
    return problems


def _nima_min_size(options: dict[str, Any]) -> int:
    """VGG-16 halves its input five times; Inception-ResNet-v2's unpadded stem and reductions need 75 pixels."""
    return 32 if options.get("base_model_name", "vgg16") == "vgg16" else 75


def _wadiqam(options: dict[str, Any]) -> nn.Module:
    from metrics.deep.nets import unwrap
    from metrics.deep.wadiqam import WEIGHT_FILES, WaDIQaMNet
    from metrics.deep.weights import load_module

    mode = options["metric_type"]
    net = WaDIQaMNet(mode, train_patch_num=options["train_patch_num"])
    start = options.get("pretrained_model_path")
    if start:
        metric = "wadiqam_fr" if mode == "FR" else "wadiqam_nr"
        loaded = unwrap(custom_weights.load(WEIGHT_FILES[metric][0], Path(start)), "params")
        if options["load_feature_weight_only"]:
            load_module(net.features, loaded, prefix="features.")
        else:
            load_module(net, loaded)
    return net


def _in_trunk(name: str) -> bool:
    return name.startswith("features.")


def _in_heads(name: str) -> bool:
    return not name.startswith("features.")


#: pyiqa's WaDIQaM model: ``lr_basemodel`` for the trunk, ``lr_fc_layers`` for the two MLP heads.
_WADIQAM_PARTS = {"basemodel": _in_trunk, "fc_layers": _in_heads}

#: pyiqa's NIMA option file: ``lr_basemodel`` for the trunk (``base_model``), ``lr_classifier`` for the head.
_NIMA_PARTS = {"basemodel": lambda name: name.startswith("base_model."),
               "classifier": lambda name: name.startswith("classifier.")}

#: pyiqa's HyperNet option file: ``lr_basemodel`` for the ResNet-50, ``lr_hypermodule`` for everything else.
_HYPERNET_PARTS = {"basemodel": lambda name: name.startswith("base_model."),
                   "hypermodule": lambda name: not name.startswith("base_model.")}

#: The S-CNN pre-training file pyiqa's DBCNN starts from.
DBCNN_SCNN_FILE = "DBCNN_scnn-7ea73d75.pth"

NETWORKS: dict[str, TrainableNetwork] = {
    "CNNIQA": TrainableNetwork("cnniqa", "NR", {}, 7, _cnniqa),
    "DBCNN": TrainableNetwork("dbcnn", "NR", {"pretrained_backbone": True, "pretrained_scnn_path": None}, 16,
                              _dbcnn),
    "WaDIQaM": TrainableNetwork("wadiqam_fr", "FR", {"metric_type": "FR", "train_patch_num": 32,
                                                     "pretrained_model_path": None,
                                                     "load_feature_weight_only": False}, 33, _wadiqam,
                                variants=("metric_type", {"FR": ("wadiqam_fr", "FR"), "NR": ("wadiqam_nr", "NR")}),
                                parameter_parts=_WADIQAM_PARTS),
    "HyperNet": TrainableNetwork("hyperiqa", "NR", {"pretrained_backbone": True, "base_model_name": "resnet50"},
                                 32, _hypernet, parameter_parts=_HYPERNET_PARTS, check=_hypernet_check),
    "NIMA": TrainableNetwork("nima-vgg16-ava", "NR", {"base_model_name": "vgg16", "pretrained_backbone": True,
                                                      "dropout_rate": 0.0}, _nima_min_size, _nima,
                             predicts_distribution=True,
                             variants=("base_model_name", {"vgg16": ("nima-vgg16-ava", "NR"),
                                                           "inception_resnet_v2": ("nima", "NR")}),
                             parameter_parts=_NIMA_PARTS, check=_nima_check),
}
#: Options pyiqa's option files give a network that do not change what is trained here.
IGNORED_NETWORK_OPTIONS = frozenset({"pretrained", "pretrained_model_path", "fc", "use_bn", "train_dataset"})


def by_metric(metric: str) -> tuple[str, dict[str, Any]] | None:
    """The pyiqa network type training metric ``metric`` and the network options it implies, if trainable."""
    return next(((kind, implied) for kind, net in NETWORKS.items() for name, implied in net.metrics().items()
                 if name == metric), None)


def trainable_metrics() -> list[str]:
    return [name for net in NETWORKS.values() for name in net.metrics()]


def unfreeze(model: nn.Module) -> None:
    """The fine-tune phase: every parameter trained (pyiqa's DBCNN second stage)."""
    model.requires_grad_(True)


def parameter_names(kind: str, options: dict[str, Any]) -> list[str]:
    """The parameter names of the network, built on the meta device (nothing loaded, nothing allocated)."""
    from metrics.deep.nets import build_meta

    nothing = {"pretrained_backbone": False, "pretrained_model_path": None}
    return [name for name, _ in build_meta(lambda: NETWORKS[kind].build({**options, **nothing}))
            .named_parameters()]
