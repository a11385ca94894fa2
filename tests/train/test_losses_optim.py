"""Losses, optimiser groups, schedulers and the data order, against their definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from orchestrator.train import data, losses, optim
from orchestrator.train.options import Augment


def test_plcc_loss_is_half_one_minus_pearson():
    rng = np.random.default_rng(0)
    pred, mos = rng.normal(size=8), rng.normal(size=8)
    expected = (1 - stats.pearsonr(pred, mos).statistic) / 2
    got = losses.plcc_loss(torch.tensor(pred).view(-1, 1), torch.tensor(mos))
    assert float(got) == pytest.approx(expected, abs=1e-12)
    assert float(losses.plcc_loss(torch.tensor([2.0]), torch.tensor([0.5]))) == pytest.approx(1.5)


def test_emd_loss_follows_the_cumulative_distributions():
    rng = np.random.default_rng(1)
    p, q = rng.dirichlet(np.ones(10), size=3), rng.dirichlet(np.ones(10), size=3)
    expected = np.mean([np.sqrt(np.mean((np.cumsum(a) - np.cumsum(b)) ** 2)) for a, b in zip(p, q)])
    assert float(losses.emd_loss(torch.tensor(p), torch.tensor(q))) == pytest.approx(expected, abs=1e-12)
    assert float(losses.emd_loss(torch.tensor(p), torch.tensor(p))) == 0.0


def test_rank_loss_counts_only_misordered_pairs():
    mos = torch.tensor([1.0, 2.0, 3.0])
    assert float(losses.rank_loss(torch.tensor([0.1, 0.2, 0.3]), mos)) == 0.0
    pred = torch.tensor([0.3, 0.2, 0.1])  # every pair reversed: terms 0.1, 0.2, 0.1 each twice over 9 pairs
    assert float(losses.rank_loss(pred, mos)) == pytest.approx((0.8 / 9) / 1.2, rel=1e-6)


def test_weighted_mse_and_l1():
    pred, mos = torch.tensor([[1.0], [3.0]]), torch.tensor([2.0, 2.0])
    assert float(losses.build_loss({"type": "MSELoss", "loss_weight": 2.0})(pred, mos)) == 2.0
    assert float(losses.build_loss({"type": "L1Loss"})(pred, mos)) == 1.0


def test_lr_part_groups_as_pyiqa_documents():
    net = torch.nn.ModuleDict({"basemodel": torch.nn.Linear(2, 2), "head": torch.nn.Linear(2, 1)})
    net["basemodel"].bias.requires_grad_(False)
    options = {"type": "Adam", "lr": 1e-3, "lr_basemodel": 1e-5, "weight_decay": 0.1}
    assert optim.optimiser_problems(options, "optim", [n for n, _ in net.named_parameters()]) == []
    optimiser = optim.build_optimiser(net, options)
    first, rest = optimiser.param_groups
    assert first["lr"] == 1e-5 and first["weight_decay"] == 0.0 and first["params"] == [net["basemodel"].weight]
    assert rest["lr"] == 1e-3 and rest["weight_decay"] == 0.1 and len(rest["params"]) == 2
    scheduler = optim.build_scheduler(optimiser, {"type": "MultiStepLR", "milestones": [2], "gamma": 0.1})
    for _ in range(2):
        optimiser.step()
        scheduler.step()
    assert optimiser.param_groups[1]["lr"] == pytest.approx(1e-4)


def test_worker_slices_cover_each_global_batch_and_resume_the_same():
    full = [data.worker_slice(10, 3, True, 2, 2, rank, 0, 12) for rank in range(2)]
    for iteration in range(12):
        rows = np.concatenate([s.rows[iteration * 2:(iteration + 1) * 2] for s in full])
        assert len(set(rows.tolist())) == 4
    epoch0 = np.concatenate([np.concatenate([s.rows[i * 2:(i + 1) * 2] for s in full]) for i in range(3)])[:10]
    assert sorted(epoch0.tolist()) == list(range(10))  # the first 10 positions are one permutation
    resumed = data.worker_slice(10, 3, True, 2, 2, 1, 5, 12)
    assert np.array_equal(resumed.rows, full[1].rows[10:]) and np.array_equal(resumed.seeds, full[1].seeds[10:])


def test_augment_crops_and_flips_an_image_and_its_reference_alike():
    image = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    crops = {tuple(data.augment([image, image.copy()], Augment(random_crop=(8, 8), hflip=True), (1, 2, s))[k]
                   .ravel()[:5]) for s in range(20) for k in (0,)}
    assert len(crops) > 5  # the crop moves with the seed
    for s in range(5):
        a, b = data.augment([image, image.copy()], Augment(random_crop=(8, 10), hflip=True), (0, 0, s))
        assert a.shape == (8, 10, 3) and np.array_equal(a, b)
    resized = data.augment([image], Augment(resize=(10,)), (0, 0, 0))[0]
    assert resized.shape == (10, 15, 3)


def test_dbcnn_starts_from_imagenet_vgg_and_the_scnn_file(seeded_weight_caches, monkeypatch, tmp_path):
    """pyiqa's initialisation: the VGG-16 and S-CNN files (here the seeded random ones) fill the two frozen
    streams; ``pretrained_scnn_path`` replaces the S-CNN file; the linear layer starts Kaiming-normal, bias 0."""
    from metrics.deep import weights
    from metrics.deep.weights import WeightFile
    from orchestrator.train.networks import DBCNN_SCNN_FILE, NETWORKS

    seeded_weight_caches.ensure("vgg16-397923af.pth", DBCNN_SCNN_FILE)
    seeded_weight_caches.use_in(monkeypatch)
    vgg = weights.load(WeightFile.torchvision("VGG16_Weights.IMAGENET1K_V1")).state_dict
    scnn = weights.load(WeightFile(DBCNN_SCNN_FILE)).state_dict
    net = NETWORKS["DBCNN"].build({"pretrained_backbone": True, "pretrained_scnn_path": None})
    assert torch.equal(net.features1[28].weight, vgg["features.28.weight"])
    assert torch.equal(net.features2[25].running_var, scnn["features.25.running_var"])
    assert not any(p.requires_grad for p in [*net.features1.parameters(), *net.features2.parameters()])
    assert net.fc.weight.requires_grad and float(net.fc.bias.abs().sum()) == 0.0
    own = {k: v + 1 for k, v in scnn.items()}
    torch.save(own, tmp_path / "scnn.pth")
    net = NETWORKS["DBCNN"].build({"pretrained_backbone": True, "pretrained_scnn_path": str(tmp_path / "scnn.pth")})
    assert torch.equal(net.features2[0].weight, own["features.0.weight"])


def test_nima_and_hypernet_start_from_imagenet_trunks(seeded_weight_caches, monkeypatch):
    """``pretrained_backbone: true``: NIMA's VGG-16 from torchvision's ImageNet file (renamed to timm's
    ``features_<i>``), HyperNet's ResNet-50 from torchvision's (its ``fc`` left out); the heads start random."""
    from metrics.deep import weights
    from metrics.deep.weights import WeightFile
    from orchestrator.train.networks import NETWORKS

    seeded_weight_caches.ensure("vgg16-397923af.pth", "resnet50-0676ba61.pth")
    seeded_weight_caches.use_in(monkeypatch)
    vgg = weights.load(WeightFile.torchvision("VGG16_Weights.IMAGENET1K_V1")).state_dict
    nima = NETWORKS["NIMA"].build({"base_model_name": "vgg16", "pretrained_backbone": True, "dropout_rate": 0.0})
    assert all(torch.equal(nima.base_model.get_submodule(f"features_{i}").weight, vgg[f"features.{i}.weight"])
               for i in (0, 14, 28))
    resnet = weights.load(WeightFile.torchvision("ResNet50_Weights.IMAGENET1K_V1")).state_dict
    hyper = NETWORKS["HyperNet"].build({"pretrained_backbone": True, "base_model_name": "resnet50"})
    assert torch.equal(hyper.base_model.layer4[2].conv3.weight, resnet["layer4.2.conv3.weight"])
    assert torch.equal(hyper.base_model.bn1.running_mean, resnet["bn1.running_mean"])


def test_saved_weights_have_one_sha256_whoever_writes_them(tmp_path):
    """The cell key holds the file's sha256: the same tensors must give the same bytes from any process and path."""
    from orchestrator.train.job import save_weights

    state = {"fc.weight": torch.arange(6.0).view(2, 3), "fc.bias": torch.zeros(2)}
    first = save_weights(state, tmp_path / "a" / "x.pth")
    assert save_weights(state, tmp_path / "b" / "other-name.pth") == first
    assert torch.equal(torch.load(tmp_path / "a" / "x.pth", weights_only=True)["params"]["fc.weight"],
                       state["fc.weight"])
