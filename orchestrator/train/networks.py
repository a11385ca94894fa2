"""The trainable networks: the modules the metrics score with (``metrics/deep``), whose state dicts have pyiqa's
keys, so a trained checkpoint saved as ``{"params": state_dict}`` is what pyiqa and ``pretrained_model_path``
load.

pyiqa's ``network.type`` names map to our metric names. Initialisation follows pyiqa's architectures:

* CNNIQA: PyTorch's default initialisation of its layers.
* DBCNN: VGG-16 from ImageNet and the S-CNN from its pre-training file (``pretrained_backbone: true``, pyiqa's
  behaviour; the files come from the weight store, ``iqabench weights download dbcnn``) or randomly
  (``pretrained_backbone: false``); the linear layer Kaiming-normal with zero bias; the two streams are frozen
  until the fine-tune phase (pyiqa's ``fc: true``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    #: Smallest input side the network accepts.
    min_size: int
    build: Callable[[dict[str, Any]], nn.Module]
    predicts_distribution: bool = False


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


#: The S-CNN pre-training file pyiqa's DBCNN starts from.
DBCNN_SCNN_FILE = "DBCNN_scnn-7ea73d75.pth"

NETWORKS: dict[str, TrainableNetwork] = {
    "CNNIQA": TrainableNetwork("cnniqa", "NR", {}, 7, _cnniqa),
    "DBCNN": TrainableNetwork("dbcnn", "NR", {"pretrained_backbone": True, "pretrained_scnn_path": None}, 16,
                              _dbcnn),
}
#: pyiqa network types with a metric here that cannot be trained yet.
NOT_YET_TRAINABLE = {"HyperNet": "hyperiqa", "WaDIQaM": "wadiqam_fr / wadiqam_nr", "NIMA": "nima"}
#: Options pyiqa's option files give a network that do not change what is trained here.
IGNORED_NETWORK_OPTIONS = frozenset({"pretrained", "pretrained_model_path", "fc", "use_bn"})


def by_metric(metric: str) -> str | None:
    """The pyiqa network type of metric ``metric``, if it is trainable."""
    return next((kind for kind, net in NETWORKS.items() if net.metric == metric), None)


def unfreeze(model: nn.Module) -> None:
    """The fine-tune phase: every parameter trained (pyiqa's DBCNN second stage)."""
    model.requires_grad_(True)


def parameter_names(kind: str, options: dict[str, Any]) -> list[str]:
    """The parameter names of the network, built on the meta device (nothing loaded, nothing allocated)."""
    from metrics.deep.nets import build_meta

    return [name for name, _ in build_meta(lambda: NETWORKS[kind].build({**options, "pretrained_backbone": False}))
            .named_parameters()]
