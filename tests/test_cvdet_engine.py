"""cvdet through the existing training engine: a tiny run, reload from best.pt, exact resume."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from cvpipe.formats import read_dataset
    from cvpipe.synthetic import synthesize_voc

    root = tmp_path_factory.mktemp("voc") / "shapes"
    synthesize_voc(root, images=8, seed=3, size=(96, 64), object_size=(14, 30), objects_per_image=(1, 2))
    ds = read_dataset(root, "voc")
    return ds.split("train"), ds.split("val")


class Interrupt(Exception):
    pass


def _fit(train, val, out: Path, epochs: int, resume: bool = False, stop_after: int | None = None):
    from cvpipe.engine.train import TrainConfig, fit

    def on_epoch_end(epoch, metrics):
        if epoch == stop_after:
            raise Interrupt

    cfg = TrainConfig(model="cvdet-n", model_params={"image_size": 64}, epochs=epochs, batch_size=4, workers=0,
                      lr=0.002, warmup_epochs=0.5, threads=1)
    return fit(train, val, cfg, out_dir=out, resume=resume, on_epoch_end=on_epoch_end, progress=False,
               log=lambda m: None)


def _weights(path: Path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]["state_dict"]


def test_cvdet_trains_validates_and_resumes_exactly(tiny_data, tmp_path):
    train, val = tiny_data
    full = _fit(train, val, tmp_path / "full", 2)
    assert full.epochs_run == 2 and all(h["loss"] == h["loss"] for h in full.history)
    assert (tmp_path / "full" / "best.pt").is_file()
    with pytest.raises(Interrupt):
        _fit(train, val, tmp_path / "part", 2, stop_after=1)
    _fit(train, val, tmp_path / "part", 2, resume=True)
    a, b = _weights(tmp_path / "full" / "last.pt"), _weights(tmp_path / "part" / "last.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    model = full.bundle.model
    model.eval()
    with torch.no_grad():
        (det,) = model([torch.rand(3, 64, 96)])
    assert det["boxes"].shape[1] == 4 and (det["boxes"][:, 2] <= 96).all()
