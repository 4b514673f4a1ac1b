"""`make bench` keeps working: a few steps of each of its CPU measurements, and the pipeline it relies on."""

from __future__ import annotations

import csv

import torch

from experiments import bench
from experiments.data import TrainBatches


def test_bench_smoke_writes_every_item(tmp_path):
    out = tmp_path / "bench"
    assert bench.main(["--smoke", "--device", "cpu", "--out-dir", str(out), "--models", "resnet-20",
                       "--repeats", "1"]) == 0
    rows = list(csv.DictReader(open(out / "bench-cpu.csv")))
    by_item = {int(r["item"]): r for r in rows}
    assert {1, 2, 3, 4, 6} <= set(by_item)
    for item in (1, 2, 3):
        assert float(by_item[item]["ratio"]) > 0 and float(by_item[item]["images_per_s"]) > 0
    assert float(by_item[4]["images_per_s"]) > 0
    assert (out / "bench-cpu.json").is_file()


def test_pad_crop_flip_grid_cache_keeps_batches_a_function_of_seed_and_step():
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(64)
    mean = images.float().mean(0).div_(255)
    a = TrainBatches(images, labels, mean, 16, 0, True, False)
    b = TrainBatches(images, labels, mean, 16, 0, True, False)
    first = [a.batch(s)[0] for s in range(6)]
    assert all(torch.equal(b.batch(s)[0], first[s]) for s in reversed(range(6)))  # any order, same batches
    assert not torch.equal(first[0], first[1])
