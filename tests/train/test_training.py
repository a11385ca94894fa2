"""Training on Ray Train with CPU workers on tiny made-up datasets: the loss of each of the seven trainable models
falls (cnniqa, dbcnn, wadiqam_nr, wadiqam_fr, nima-vgg16-ava, and hyperiqa and nima in
``test_loss_falls_over_a_few_dozen_iterations``), validation and losses reach MLflow, a stopped training resumed
ends with the same weights as an uninterrupted one, and the trained file has pyiqa 0.1.16's architecture state dict
(same keys and shapes, loads strictly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from orchestrator.train.job import TrainRequest, run_training
from orchestrator.train.options import TrainOptionError
from tests.train.conftest import write_options

pytestmark = pytest.mark.usefixtures("train_cluster")

CNNIQA = {
    "model": "cnniqa", "name": "tiny_cnniqa", "seed": 7,
    "train": {"dataset": "tiny", "random_crop": 32, "hflip": True, "batch_size": 4},
    "val": {"dataset": "tiny", "every": 10},
    "optim": {"type": "Adam", "lr": 1e-3},
    "scheduler": {"type": "MultiStepLR", "milestones": [20], "gamma": 0.5},
    "total_iter": 30, "loss": {"type": "PLCCLoss"}, "checkpoint_every": 10,
}


def _mean_loss(history, first: int, last: int) -> float:
    return float(np.mean([r["loss"] for r in history if first <= r["iteration"] <= last]))


def _pyiqa_loads(weights: Path, name: str, monkeypatch) -> torch.nn.Module:
    """pyiqa 0.1.16's architecture loading the trained file (``pretrained_model_path``: strict, under
    ``params``), its ImageNet VGG and S-CNN pre-training (DBCNN) left random: nothing is downloaded."""
    if name == "cnniqa":
        from pyiqa.archs.cnniqa_arch import CNNIQA

        return CNNIQA(pretrained_model_path=str(weights))
    if name == "nima-vgg16-ava":  # timm's ImageNet VGG-16 is not fetched: the trained file overwrites it
        import timm
        from pyiqa.archs import nima_arch

        create = timm.create_model
        monkeypatch.setattr(nima_arch.timm, "create_model",
                            lambda *args, **kwargs: create(*args, **{**kwargs, "pretrained": False}))
        return nima_arch.NIMA(base_model_name="vgg16", pretrained_model_path=str(weights))
    if name == "nima":  # nor timm's ImageNet Inception-ResNet-v2
        import timm
        from pyiqa.archs import nima_arch

        create = timm.create_model
        monkeypatch.setattr(nima_arch.timm, "create_model",
                            lambda *args, **kwargs: create(*args, **{**kwargs, "pretrained": False}))
        return nima_arch.NIMA(base_model_name="inception_resnet_v2", pretrained_model_path=str(weights))
    if name == "hyperiqa":
        import timm
        from pyiqa.archs import hypernet_arch

        create = timm.create_model
        monkeypatch.setattr(hypernet_arch.timm, "create_model",
                            lambda *args, **kwargs: create(*args, **{**kwargs, "pretrained": False}))
        return hypernet_arch.HyperNet(pretrained_model_path=str(weights))
    if name.startswith("wadiqam"):
        from pyiqa.archs.wadiqam_arch import WaDIQaM

        return WaDIQaM(metric_type=name[-2:].upper(), pretrained_model_path=str(weights))
    import torchvision
    from pyiqa.archs import dbcnn_arch

    build_vgg16, load = torchvision.models.vgg16, dbcnn_arch.load_pretrained_network
    monkeypatch.setattr(dbcnn_arch.torchvision.models, "vgg16", lambda weights=None: build_vgg16(weights=None))
    monkeypatch.setattr(dbcnn_arch, "load_pretrained_network",
                        lambda net, path, *args: None if path.startswith("http") else load(net, path, *args))
    return dbcnn_arch.DBCNN(pretrained_model_path=str(weights))


def _fits_pyiqa(weights: Path, name: str, monkeypatch) -> torch.nn.Module:
    trained = torch.load(weights, map_location="cpu", weights_only=True)["params"]
    network = _pyiqa_loads(weights, name, monkeypatch)
    reference = network.state_dict()
    assert {k: tuple(v.shape) for k, v in trained.items()} == {k: tuple(v.shape) for k, v in reference.items()}
    assert all(torch.equal(trained[k], reference[k]) for k in trained)
    return network


@pytest.fixture(scope="module")
def cnniqa_run(tmp_path_factory, tiny_nr):
    folder = tmp_path_factory.mktemp("train-cnniqa")
    request = TrainRequest(opt=write_options(folder / "cnniqa.yml", **CNNIQA), out=folder / "out", num_workers=2,
                           data_opt=tiny_nr, system_metrics_interval_s=1.0)
    return request, run_training(request, echo=lambda line: None)


def test_cnniqa_loss_falls_and_validation_is_logged(cnniqa_run, monkeypatch):
    _, result = cnniqa_run
    assert result.finished and [r["iteration"] for r in result.history] == list(range(1, 31))
    assert _mean_loss(result.history, 21, 30) < 0.5 * _mean_loss(result.history, 1, 5)
    validated = [r for r in result.history if "val_srcc" in r]
    assert [r["iteration"] for r in validated] == [10, 20, 30] and validated[-1]["val_srcc"] > 0.5
    assert [r["lr"] for r in result.history if r["iteration"] in (20, 21)] == [1e-3, 5e-4]
    _fits_pyiqa(result.weights, "cnniqa", monkeypatch)
    assert yaml.safe_load(result.metric_opt.read_text()) == {"cnniqa": {"pretrained_model_path":
                                                                        str(result.weights.resolve())}}


def test_mlflow_run_holds_the_training(cnniqa_run):
    from mlflow.tracking import MlflowClient

    request, result = cnniqa_run
    client = MlflowClient(tracking_uri=f"sqlite:///{(request.out / 'mlflow.db').resolve()}")
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.data.params["network"] == "CNNIQA"
    assert run.data.params["num_workers"] == "2" and run.data.tags["weights_sha256"] == result.weights_sha256
    assert [m.step for m in client.get_metric_history(result.run_id, "loss")] == list(range(1, 31))
    assert [m.step for m in client.get_metric_history(result.run_id, "val_srcc")] == [10, 20, 30]
    assert [a.path for a in client.list_artifacts(result.run_id, "model")] == ["model/tiny_cnniqa.pth"]
    # MLflow's system metrics of the training machine, sampled every second while it trained
    cpu = client.get_metric_history(result.run_id, "system/cpu_utilization_percentage")
    assert len(cpu) >= 2 and all(0 <= m.value <= 100 for m in cpu)
    assert client.get_metric_history(result.run_id, "system/system_memory_usage_megabytes")[0].value > 0


def test_trained_run_is_benchmarked_by_name(cnniqa_run, tmp_path):
    """``-m cnniqa@<run-id>``: the run's weight artifact is fetched from MLflow and scored (the same network, the
    same images as the training's last validation); its sha256 is in the cell key; an unknown run, a run of
    another metric and a run that is not a training are refused in one line each, before anything is scored."""
    import pandas as pd

    from orchestrator.run.benchmark import run_benchmark
    from orchestrator.run.plan import PlanError, build_plan, cell_key, parameter_fingerprint
    from orchestrator.run.request import BenchmarkRequest

    request, result = cnniqa_run
    uri = f"sqlite:///{(request.out / 'mlflow.db').resolve()}"
    name = f"cnniqa@{result.run_id}"
    bench_request = BenchmarkRequest(metrics=(name,), datasets=("tiny",), data_opt=request.data_opt,
                                     out=tmp_path / "bench", tracking_uri=uri)
    plan = build_plan(bench_request)
    (cell,), (dataset_pass,) = plan.cells, plan.passes
    assert cell.spec.builds == "cnniqa" and Path(cell.options["pretrained_model_path"]).name == "tiny_cnniqa.pth"
    parameters = parameter_fingerprint(cell.spec, fetch=False, options=cell.options)
    assert result.weights_sha256 in parameters.values()
    assert cell.key == cell_key(cell.spec, cell.options, dataset_pass.manifest, dataset_pass.split, parameters)
    bench = run_benchmark(bench_request, echo=lambda line: None)
    assert not bench.given_up
    table = pd.read_csv(tmp_path / "bench" / "benchmark_results.csv")
    assert table["Metric name"].tolist() == [name]
    assert float(table.iloc[0, 1].split("/")[1]) == pytest.approx(result.history[-1]["val_srcc"], abs=1e-4)

    from mlflow.tracking import MlflowClient

    other = MlflowClient(tracking_uri=uri).search_runs(
        [MlflowClient(tracking_uri=uri).get_experiment_by_name("iqabench").experiment_id],
        filter_string="tags.`iqabench.role` != 'training'", max_results=1)[0].info.run_id
    for metrics, line in [(("cnniqa@0123abcd",), "cnniqa@0123abcd: no MLflow run '0123abcd' in"),
                          ((f"dbcnn@{result.run_id}",), f"dbcnn@{result.run_id}: MLflow run {result.run_id} trained "
                                                        f"'cnniqa', not 'dbcnn' (name it cnniqa@{result.run_id})"),
                          ((f"cnniqa@{other}",), f"cnniqa@{other}: MLflow run {other} is not a training run")]:
        with pytest.raises(PlanError) as caught:
            build_plan(BenchmarkRequest(**{**bench_request.__dict__, "metrics": metrics}))
        assert line in str(caught.value)


def test_stopped_killed_and_resumed_equals_uninterrupted(cnniqa_run, tmp_path, tiny_nr):
    """Stopped at iteration 10 (``--stop_at``); resumed by ``python -m jobs.train --resume`` (as ``ray job submit``
    runs it, a driver of the same cluster) and killed (SIGKILL) as soon as it writes its next checkpoint; resumed
    again: the history of the uninterrupted training and bit-identical weights."""
    import subprocess
    import sys
    import time

    import ray

    from tests.train.conftest import REPO

    _, uninterrupted = cnniqa_run
    request = TrainRequest(opt=write_options(tmp_path / "cnniqa.yml", **CNNIQA), out=tmp_path / "out",
                           num_workers=2, data_opt=tiny_nr, stop_at=10)
    stopped = run_training(request, echo=lambda line: None)
    assert stopped.iteration == 10 and stopped.weights is None
    with pytest.raises(TrainOptionError, match="already has checkpoints here; --resume continues it"):
        run_training(request, echo=lambda line: None)

    run_folder = request.out / "checkpoints" / "tiny_cnniqa"
    earlier = set(run_folder.glob("checkpoint_*"))
    with open(tmp_path / "killed.log", "w") as log:
        job = subprocess.Popen(
            [sys.executable, "-m", "jobs.train", "--opt", str(request.opt), "--out", str(request.out),
             "--num_workers", "2", "--data_opt", str(tiny_nr), "--resume",
             "--ray_address", ray.get_runtime_context().gcs_address], cwd=REPO, stdout=log, stderr=log)
        deadline = time.monotonic() + 300
        while not set(run_folder.glob("checkpoint_*")) - earlier:
            assert job.poll() is None and time.monotonic() < deadline, (tmp_path / "killed.log").read_text()
            time.sleep(0.02)
        job.kill()
        job.wait()
    assert not (request.out / "tiny_cnniqa.pth").exists()  # killed before it finished

    resumed = run_training(TrainRequest(**{**request.__dict__, "stop_at": None, "resume": True}),
                           echo=lambda line: None)
    assert resumed.run_id == stopped.run_id and resumed.finished
    assert resumed.history == uninterrupted.history
    final, expected = resumed.final_state["model"], uninterrupted.final_state["model"]
    assert all(torch.equal(final[k], expected[k]) for k in expected)  # bit-identical on the CPU
    assert resumed.weights_sha256 == uninterrupted.weights_sha256


def test_dbcnn_trains_through_the_cli_and_fine_tunes_after_its_first_phase(tmp_path, tiny_nr, monkeypatch):
    """``iqabench train --opt <tiny dbcnn option file> --num_workers 2``: it trains (the loss falls in the first
    phase; the VGG-16 stream learns once fine-tuning starts), checkpoints, logs to MLflow, and writes pyiqa's DBCNN
    state dict."""
    from mlflow.tracking import MlflowClient

    from jobs.cli import main
    from orchestrator.train.loop import STATE_FILE
    from orchestrator.train.networks import NETWORKS

    options = {
        "model": "dbcnn", "name": "tiny_dbcnn", "seed": 3, "network": {"pretrained_backbone": False},
        "train": {"dataset": "tiny", "random_crop": 32, "hflip": True, "batch_size": 4},
        "optim": {"type": "SGD", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
        "finetune": {"start_iter": 16, "optim": {"type": "Adam", "lr": 1e-4, "weight_decay": 5e-4}},
        "total_iter": 24, "loss": {"type": "MSELoss"}, "checkpoint_every": 12,
    }
    out = tmp_path / "out"
    assert main(["train", "--opt", str(write_options(tmp_path / "dbcnn.yml", **options)), "--num_workers", "2",
                 "--out", str(out), "--data_opt", str(tiny_nr)]) == 0
    saved = [torch.load(path, map_location="cpu", weights_only=True)
             for path in sorted((out / "checkpoints" / "tiny_dbcnn").glob(f"checkpoint_*/{STATE_FILE}"))]
    assert [state["iteration"] for state in saved] == [12, 24]
    history = saved[-1]["history"]
    assert [r["finetune"] for r in history] == [False] * 15 + [True] * 9
    assert _mean_loss(history, 11, 15) < 0.5 * _mean_loss(history, 1, 5)
    torch.manual_seed(3)
    initial = NETWORKS["DBCNN"].build({"pretrained_backbone": False}).state_dict()
    final = saved[-1]["model"]
    assert not torch.equal(final["features1.0.weight"], initial["features1.0.weight"])  # trained when fine-tuning
    network = _fits_pyiqa(out / "tiny_dbcnn.pth", "dbcnn", monkeypatch)
    assert all(torch.equal(network.state_dict()[k], final[k]) for k in final)
    client = MlflowClient(tracking_uri=f"sqlite:///{(out / 'mlflow.db').resolve()}")
    (run,) = client.search_runs([client.get_experiment_by_name("iqabench").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["num_workers"] == "2"
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in losses] == [(r["iteration"], pytest.approx(r["loss"])) for r in history]


def test_trained_weights_are_benchmarked_as_a_metric(cnniqa_run):
    """``--evaluate``: the trained network scores the dataset through ``iqabench bench`` (``pretrained_model_path``
    in ``--metric_opt``); the benchmark's MLflow run names the training's."""
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from orchestrator.train.job import _evaluate

    request, result = cnniqa_run
    bench = _evaluate(result, TrainRequest(**{**request.__dict__, "evaluate": ("tiny",)}), echo=lambda line: None)
    assert not bench.given_up
    table = pd.read_csv(request.out / "bench" / "benchmark_results.csv")
    assert table["Metric name"].tolist() == ["cnniqa"]
    srcc = float(table.iloc[0, 1].split("/")[1])
    assert srcc == pytest.approx(result.history[-1]["val_srcc"], abs=1e-4)  # the same images, the same network
    client = MlflowClient(tracking_uri=f"sqlite:///{(request.out / 'mlflow.db').resolve()}")
    runs = client.search_runs([client.get_experiment_by_name("iqabench").experiment_id],
                              filter_string=f"tags.`iqabench.training_run` = '{result.run_id}'")
    assert len(runs) == 1


def _wadiqam_options(metric: str, dataset: str, seed: int) -> dict:
    return {
        "model": metric, "name": f"tiny_{metric}", "seed": seed, "network": {"train_patch_num": 4},
        "train": {"dataset": dataset, "hflip": True, "batch_size": 4},
        "val": {"dataset": dataset, "every": 24},
        "optim": {"type": "Adam", "lr": 1e-4, "lr_basemodel": 1e-4, "lr_fc_layers": 1e-3},  # pyiqa's groups
        "total_iter": 24, "loss": {"type": "MSELoss"}, "checkpoint_every": 100,
    }


@pytest.mark.parametrize("metric", ["wadiqam_nr", "wadiqam_fr"])
def test_wadiqam_trains_on_random_patches(metric, tmp_path, tiny_nr, tiny_fr, monkeypatch):
    """One worker (the data-parallel path is CNNIQA's and DBCNN's): the loss falls; the file loads strictly into
    pyiqa's WaDIQaM of the same metric type, which then scores as the trained network does (patch grid)."""
    from orchestrator.train.data import to_tensor, validation_images
    from orchestrator.train.networks import NETWORKS

    fr = metric == "wadiqam_fr"
    request = TrainRequest(opt=write_options(tmp_path / "wadiqam.yml", **_wadiqam_options(
        metric, "tiny_fr" if fr else "tiny", seed=5)), out=tmp_path / "out", num_workers=1,
        data_opt=tiny_fr if fr else tiny_nr)
    result = run_training(request, echo=lambda line: None)
    assert result.finished and result.options.metric == metric
    assert _mean_loss(result.history, 20, 24) < 0.5 * _mean_loss(result.history, 1, 4)
    pyiqa_net = _fits_pyiqa(result.weights, metric, monkeypatch).eval()
    ours = NETWORKS["WaDIQaM"].build(result.options.network_options).eval()
    ours.load_state_dict(result.final_state["model"])
    _, image, reference, _ = next(validation_images(result.options.val))
    args = [to_tensor(image[None], "cpu")] + ([to_tensor(reference[None], "cpu")] if fr else [])
    with torch.inference_mode():
        torch.testing.assert_close(ours(*args), pyiqa_net(*args), rtol=1e-5, atol=1e-6)


def test_nima_learns_vote_distributions(tmp_path, tiny_ava, monkeypatch):
    """NIMA (VGG-16) on an AVA-like dataset, one worker (the data-parallel path is CNNIQA's): the vote histograms reach training (EMD loss against
    them falls), and the written file is pyiqa 0.1.16's NIMA state dict and loads in our ``nima-vgg16-ava``
    metric, which scores as pyiqa's network with that file does (the mean rating of its distribution)."""
    import iqabench
    from datasets_io.decode import read_image
    from orchestrator.train.data import to_tensor

    options = {
        "model": "nima-vgg16-ava", "name": "tiny_nima", "seed": 11, "network": {"pretrained_backbone": False},
        "train": {"dataset": "tiny_ava", "random_crop": 32, "hflip": True, "batch_size": 4},
        "optim": {"type": "Adam", "lr": 1e-4, "lr_basemodel": 1e-5, "lr_classifier": 1e-2},  # pyiqa's groups
        "total_iter": 12, "loss": {"type": "EMDLoss"}, "checkpoint_every": 100,
    }
    request = TrainRequest(opt=write_options(tmp_path / "nima.yml", **options), out=tmp_path / "out",
                           num_workers=1, data_opt=tiny_ava)
    result = run_training(request, echo=lambda line: None)
    assert result.finished and result.options.metric == "nima-vgg16-ava"
    assert _mean_loss(result.history, 10, 12) < 0.75 * _mean_loss(result.history, 1, 3)
    pyiqa_net = _fits_pyiqa(result.weights, "nima-vgg16-ava", monkeypatch).eval()
    metric = iqabench.create_metric("nima-vgg16-ava", device="cpu", pretrained_model_path=str(result.weights))
    x = to_tensor(read_image(result.options.train.manifest.table["dist_path"][0].as_py())[None], "cpu")
    with torch.inference_mode():
        torch.testing.assert_close(metric(x).flatten(), pyiqa_net(x).flatten(), rtol=1e-5, atol=1e-6)


#: The models no test above trains for a few dozen iterations: the fixture of their dataset option file, their
#: options (the concise form: pyiqa's loss and parameter groups, the smallest inputs the network takes), a trained
#: tensor of each parameter group, and where our metric holds the last one once it loads the trained file.
SLOW_MODELS = {
    "hyperiqa": ("tiny_nr",  # every patch is resized to 224×224, the network's input: any crop costs the same
        {"network": {"pretrained_backbone": False},
         "train": {"dataset": "tiny", "random_crop": 32, "hflip": True, "batch_size": 3},  # PLCC needs 3 per worker
         "optim": {"type": "Adam", "lr": 1e-3, "lr_basemodel": 1e-4, "lr_hypermodule": 1e-3, "weight_decay": 5e-4},
         "loss": {"type": "PLCCLoss"}},
        ("base_model.conv1.weight", "lda_modules.0.0.weight", "fc_w_modules.0.weight"),
        lambda metric: metric.net.heads.fc_w_modules[0].weight),
    "nima": ("tiny_ava",  # Inception-ResNet-v2's smallest input, 75 pixels
        {"network": {"pretrained_backbone": False},
         "train": {"dataset": "tiny_ava", "resize": [75], "random_crop": 75, "hflip": True, "batch_size": 2},
         "optim": {"type": "Adam", "lr": 5e-4, "lr_basemodel": 5e-5, "lr_classifier": 5e-4},  # pyiqa's file's
         "loss": {"type": "EMDLoss"}},
        ("base_model.conv2d_1a.conv.weight", "classifier.2.weight"),
        lambda metric: metric.net.net.classifier[2].weight),
}


@pytest.mark.parametrize("metric", sorted(SLOW_MODELS))
def test_loss_falls_over_a_few_dozen_iterations(metric, tmp_path, request, monkeypatch):
    """Two workers, 24 iterations, a fixed seed: the mean loss of the last five iterations is well below that of the
    first five, every parameter group learnt, the file is pyiqa 0.1.16's state dict of the network and our metric
    loads it."""
    import iqabench
    from orchestrator.train.networks import NETWORKS

    data_opt, options, trained_keys, metric_tensor = SLOW_MODELS[metric]
    result = run_training(TrainRequest(
        opt=write_options(tmp_path / f"{metric}.yml", model=metric, name=f"tiny_{metric}", seed=4, total_iter=24,
                          checkpoint_every=100, **options),
        out=tmp_path / "out", num_workers=2, data_opt=request.getfixturevalue(data_opt)), echo=lambda line: None)
    assert result.finished and result.options.metric == metric
    assert [r["iteration"] for r in result.history] == list(range(1, 25))
    first, last = _mean_loss(result.history, 1, 5), _mean_loss(result.history, 20, 24)
    assert last < 0.7 * first, (first, last)
    torch.manual_seed(4)
    initial = NETWORKS[result.options.network].build(result.options.network_options).state_dict()
    final = result.final_state["model"]
    for key in trained_keys:
        assert not torch.equal(final[key], initial[key]), key
    _fits_pyiqa(result.weights, metric, monkeypatch)
    loaded = iqabench.create_metric(metric, device="cpu", pretrained_model_path=str(result.weights))
    assert torch.equal(metric_tensor(loaded), final[trained_keys[-1]])
