"""Training options: pyiqa's option files read unchanged, the concise form, and every problem on its own line."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasets_io.bounded import load_yaml_mapping
from orchestrator.train.options import (
    TrainOptionError,
    load_train_options,
    parse_train_options,
)
from tests.train.conftest import write_options

PYIQA = Path(__file__).parent / "data" / "pyiqa_options"


def _pyiqa(name: str) -> dict:
    return load_yaml_mapping(PYIQA / name, "test", 1 << 20, ValueError)


def test_pyiqa_cnniqa_file_is_read_unchanged():
    options = parse_train_options(_pyiqa("train_CNNIQA.yml"), "train_CNNIQA.yml", check_data=False)
    assert (options.name, options.network, options.metric, options.seed) == (
        "001_CNNIQA_KonIQ10k", "CNNIQA", "cnniqa", 123)  # the file names itself twice: the last one counts
    assert options.optim == {"type": "Adam", "lr": 1e-3}
    assert options.scheduler == {"type": "MultiStepLR", "milestones": [400, 800, 1200], "gamma": 0.1}
    assert (options.total_iter, options.val_freq, options.checkpoint_every) == (4000, 100, 500)
    assert options.loss == {"type": "PLCCLoss", "loss_weight": 1.0}
    assert options.train.batch_size == 64 and options.train.augment.random_crop == (384, 384)
    assert options.train.augment.hflip and options.train.dataset.effective_phase == "train"
    assert options.val is not None and options.val.dataset.effective_phase == "val"
    assert options.val.dataset.split_file.endswith("koniq10k_official.pkl")


def test_pyiqa_dbcnn_file_has_its_fine_tune_phase():
    document = _pyiqa("train_DBCNN_koniq10k.yml")
    with pytest.raises(TrainOptionError) as caught:  # the S-CNN file it names is not here
        parse_train_options(document, "train_DBCNN_koniq10k.yml", check_data=False)
    assert str(caught.value).splitlines()[1:] == [
        "  - network.pretrained_scnn_path: ./experiments/pretrained_models/DBCNN/scnn.pkl is not a file"]
    del document["network"]["pretrained_scnn_path"]
    options = parse_train_options(document, "train_DBCNN_koniq10k.yml", check_data=False)
    assert options.optim == {"type": "SGD", "lr": 1e-3, "momentum": 0.9, "weight_decay": 5e-4}
    assert options.optim_finetune == {"type": "Adam", "lr": 1e-5, "weight_decay": 5e-4}
    assert (options.finetune_start_iter, options.total_iter, options.val_freq) == (10000, 20000, 800)
    assert options.scheduler_finetune == {"type": "MultiStepLR", "milestones": [1000], "gamma": 1}


def test_pyiqa_file_with_missing_data_lists_each_dataset(tmp_path):
    document = _pyiqa("train_CNNIQA.yml")
    with pytest.raises(TrainOptionError) as caught:
        parse_train_options(document, "train_CNNIQA.yml", data_root=str(tmp_path))
    lines = str(caught.value).splitlines()
    assert lines[0] == "train_CNNIQA.yml: 2 problem(s):"
    assert lines[1].startswith("  - datasets.train: ") and "meta_info_KonIQ10kDataset.csv" in lines[1]
    assert lines[2].startswith("  - datasets.val: ")


def test_every_problem_of_a_concise_file_on_its_own_line(tmp_path, tiny_nr):
    path = write_options(
        tmp_path / "bad.yml", model="dbcnn", name="x", seed=-1,
        train={"dataset": "tiny", "random_crop": 64, "batch_size": 0, "flip": True},
        val={"dataset": "nope"},
        optim={"type": "Adam", "lr": 1e-3, "lr_head": 1e-2, "betas2": 3},
        scheduler={"type": "StepLR"}, total_iter=10, loss={"type": "EMDLoss"},
        finetune={"start_iter": 12, "optim": {"type": "Adam", "lr": 1e-5}},
    )
    with pytest.raises(TrainOptionError) as caught:
        load_train_options(path, data_opt=tiny_nr)
    lines = [line.removeprefix("  - ") for line in str(caught.value).splitlines()[1:]]
    expected_starts = [
        "train.flip: unknown key", "val.dataset: unknown dataset 'nope'", "seed: must be an integer >= 0",
        "optim.betas2: not an option of Adam", "optim.lr_head: no parameter of the network has 'head'",
        "scheduler.type: unknown scheduler 'StepLR'", ("loss.type: EMDLoss needs a network that predicts a score "
                                                     "distribution"), "finetune.start_iter: 12 must be below total_iter 10",
    ]
    for start in expected_starts:
        assert any(line.startswith(start) for line in lines), (start, lines)
    assert any(line.startswith("train.batch_size: must be an integer >= 1") for line in lines)
    assert len(lines) == len(expected_starts) + 1, lines


def test_crop_larger_than_the_images_is_refused(tmp_path, tiny_nr):
    path = write_options(tmp_path / "crop.yml", model="cnniqa", train={"dataset": "tiny", "random_crop": 45},
                         optim={"type": "Adam", "lr": 1e-3}, total_iter=5)
    with pytest.raises(TrainOptionError, match=r"random_crop 45×45 is larger than 16 image\(s\)"):
        load_train_options(path, data_opt=tiny_nr)


def test_pyiqa_hypernet_file_has_its_parameter_groups():
    """pyiqa's HyperNet file: ``lr_basemodel`` for the ResNet-50, ``lr_hypermodule`` for the rest, PLCC loss,
    random 224×224 crops."""
    from metrics.deep.nets import build_meta
    from orchestrator.train import optim
    from orchestrator.train.networks import NETWORKS

    options = parse_train_options(_pyiqa("train_HyperNet.yml"), "train_HyperNet.yml", check_data=False)
    assert (options.network, options.metric, options.loss["type"]) == ("HyperNet", "hyperiqa", "PLCCLoss")
    assert options.train.augment.random_crop == (224, 224) and options.train.augment.hflip
    model = build_meta(lambda: NETWORKS["HyperNet"].build({**options.network_options, "pretrained_backbone": False}))
    groups = optim.build_optimiser(model, options.optim, NETWORKS["HyperNet"].parameter_parts).param_groups
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [(2e-5, 0.0), (2e-4, 0.0)]
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)].split(".")[0] for p in groups[0]["params"]} == {"base_model"}
    assert {names[id(p)].split(".")[0] for p in groups[1]["params"]} == {"lda_modules", "conv1", "fc_w_modules",
                                                                        "fc_b_modules"}


def test_unknown_network_type_is_named():
    document = _pyiqa("train_CNNIQA.yml")
    document["network"]["type"] = "MANIQA"
    with pytest.raises(TrainOptionError) as caught:
        parse_train_options(document, "x.yml", check_data=False)
    assert str(caught.value).splitlines()[1:] == [
        "  - network.type: unknown network 'MANIQA' (trainable: CNNIQA, DBCNN, WaDIQaM, HyperNet, NIMA)"]


def test_pyiqa_wadiqam_nr_file_starts_from_a_wadiqam_fr_trunk(tmp_path):
    """pyiqa's WaDIQaM-NR file trains ``wadiqam_nr`` from the trunk of a trained WaDIQaM-FR
    (``load_feature_weight_only``), with its model's two parameter groups (``lr_basemodel``: the trunk,
    ``lr_fc_layers``: the heads)."""
    import torch

    from metrics.deep.wadiqam import WaDIQaMNet
    from orchestrator.train import optim
    from orchestrator.train.networks import NETWORKS

    document = _pyiqa("train_WaDIQaM_NR_koniq.yml")
    with pytest.raises(TrainOptionError) as caught:  # the FR checkpoint it starts from is not here
        parse_train_options(document, "train_WaDIQaM_NR_koniq.yml", check_data=False)
    assert str(caught.value).splitlines()[1:] == [
        "  - network.pretrained_model_path: ./experiments/005_WaDIQaM_FR_kadid/models/net_best.pth is not a file"]
    torch.manual_seed(0)
    fr = WaDIQaMNet("FR")
    torch.save({"params": fr.state_dict()}, tmp_path / "fr.pth")
    document["network"]["pretrained_model_path"] = str(tmp_path / "fr.pth")
    options = parse_train_options(document, "train_WaDIQaM_NR_koniq.yml", check_data=False)
    assert (options.network, options.metric, options.total_iter) == ("WaDIQaM", "wadiqam_nr", 40000)
    net = NETWORKS["WaDIQaM"].build(options.network_options)
    trained = net.state_dict()
    assert all(torch.equal(trained[k], v) for k, v in fr.state_dict().items() if k.startswith("features."))
    assert trained["fc_q.0.weight"].shape == (512, 512) and fr.state_dict()["fc_q.0.weight"].shape == (512, 1536)
    groups = optim.parameter_groups(net, options.optim, NETWORKS["WaDIQaM"].parameter_parts)
    names = {id(p): name for name, p in net.named_parameters()}
    assert [sorted({names[id(p)].split(".")[0] for p in g["params"]}) for g in groups] == [["features"],
                                                                                          ["fc_q", "fc_w"]]
    assert [g["lr"] for g in groups] == [1e-4, 1e-4]


def test_concise_wadiqam_metric_picks_the_metric_type(tmp_path, tiny_nr):
    path = write_options(tmp_path / "nr.yml", model="wadiqam_nr", train={"dataset": "tiny", "batch_size": 4},
                         optim={"type": "Adam", "lr": 1e-4}, total_iter=5)
    options = load_train_options(path, data_opt=tiny_nr)
    assert (options.network, options.metric, options.network_options["metric_type"]) == ("WaDIQaM", "wadiqam_nr",
                                                                                        "NR")
    path = write_options(tmp_path / "fr.yml", model="wadiqam_fr", train={"dataset": "tiny", "batch_size": 4},
                         network={"train_patch_num": 0}, optim={"type": "Adam", "lr": 1e-4}, total_iter=5)
    with pytest.raises(TrainOptionError) as caught:
        load_train_options(path, data_opt=tiny_nr)
    assert [line.removeprefix("  - ") for line in str(caught.value).splitlines()[1:]] == [
        "network.train_patch_num: must be an integer >= 1, got 0",
        "train: wadiqam_fr is full-reference and needs an FR dataset"]


def test_pyiqa_nima_file_learns_distributions_with_its_parameter_groups():
    """pyiqa's NIMA file: VGG-16 (``nima-vgg16-ava``), the EMD loss, ``lr_basemodel`` for the trunk and
    ``lr_classifier`` for the head."""
    from metrics.deep.nets import build_meta
    from orchestrator.train import optim
    from orchestrator.train.networks import NETWORKS

    options = parse_train_options(_pyiqa("train_NIMA.yml"), "train_NIMA.yml", check_data=False)
    assert (options.network, options.metric, options.loss["type"]) == ("NIMA", "nima-vgg16-ava", "EMDLoss")
    assert options.train.augment.resize == (256,) and options.train.augment.random_crop == (224, 224)
    assert options.val is not None and options.val.augment.resize == (256, 256)
    model = build_meta(lambda: NETWORKS["NIMA"].build({**options.network_options, "pretrained_backbone": False}))
    groups = optim.build_optimiser(model, options.optim, NETWORKS["NIMA"].parameter_parts).param_groups
    assert [g["lr"] for g in groups] == [5e-5, 5e-4]  # no parameter is left for the plain ``lr``
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].startswith("base_model.") for p in groups[0]["params"])
    assert [names[id(p)] for p in groups[1]["params"]] == ["classifier.2.weight", "classifier.2.bias"]


def test_nima_needs_vote_counts_and_a_trunk_it_can_start(tmp_path, tiny_nr):
    path = write_options(tmp_path / "nima.yml", model="nima", train={"dataset": "tiny", "random_crop": 32},
                         optim={"type": "Adam", "lr": 1e-3}, total_iter=5, loss={"type": "EMDLoss"},
                         network={"dropout_rate": 2})
    with pytest.raises(TrainOptionError) as caught:
        load_train_options(path, data_opt=tiny_nr)
    assert [line.removeprefix("  - ") for line in str(caught.value).splitlines()[1:]] == [
        ("network.pretrained_backbone: no ImageNet Inception-ResNet-v2 file is in the weight store; set it to "
         "false (the trunk starts random)"), "network.dropout_rate: must be a number in [0, 1), got 2"]
    path = write_options(tmp_path / "nima.yml", model="nima", train={"dataset": "tiny", "random_crop": 32},
                         optim={"type": "Adam", "lr": 1e-3}, total_iter=5, loss={"type": "EMDLoss"},
                         network={"pretrained_backbone": False})
    with pytest.raises(TrainOptionError) as caught:
        load_train_options(path, data_opt=tiny_nr)
    assert [line.removeprefix("  - ") for line in str(caught.value).splitlines()[1:]] == [
        "train: 16 input(s) smaller than nima's minimum side 75, e.g. 00.png (32, 32)",
        ("train: nima learns distributions of votes, and dataset 'tiny' (GeneralNRDataset) has none: use a "
         "dataset with vote counts (AVADataset)")]


def test_nima_inception_network_has_pyiqa_state_dict_layout():
    """``nima`` trains Inception-ResNet-v2 under timm's feature-net names (those of pyiqa's checkpoint)."""
    timm = pytest.importorskip("timm")

    from metrics.deep.nets import build_meta
    from orchestrator.train.networks import NETWORKS

    ours = build_meta(lambda: NETWORKS["NIMA"].build({"base_model_name": "inception_resnet_v2",
                                                      "pretrained_backbone": False, "dropout_rate": 0.0}))
    trunk = build_meta(lambda: timm.create_model("inception_resnet_v2", pretrained=False, features_only=True))
    expected = {f"base_model.{k}": tuple(v.shape) for k, v in trunk.state_dict().items()}
    expected |= {"classifier.2.weight": (10, 1536), "classifier.2.bias": (10,)}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == expected
