#!/usr/bin/env bash
# Before the GPU call of bench/gpu_paper_check.sh (issue 14), in the root of the checkout the device tool
# sends (the session's own checkout): the carried folders and the size of what travels.
#
#   bash bench/gpu_paper_prepare.sh            # .whl/ (Lightning's wheels) and data/fashion-mnist-gz/
#
# .whl/: pytorch-lightning, lightning-utilities, torchmetrics and pyyaml for the device's Python 3.12
# (x86-64), as the device tool's README says to fetch them; about 2.6 MB. The device image has them
# already, so the script installs them only where an import fails. pandas, matplotlib and scipy
# (57 MB of wheels) are in the image too and are not carried: with the data they would pass 64 MiB.
# data/fashion-mnist-gz/: Fashion-MNIST's four .gz files (29 MiB; 52 MiB decompressed), which the check
# script decompresses on the device into DATA_DIR/FashionMNIST/raw/.
# Both folders are ignored by git (.gitignore: /.whl/, /data/), so they travel only when the call names
# them in carry: ["data/fashion-mnist-gz", ".whl"].
set -eo pipefail
PIP=${PIP:-python3 -m pip}
mkdir -p .whl data/fashion-mnist-gz
for d in .whl data/fashion-mnist-gz; do git check-ignore -q "$d" || { echo "error: $d is not ignored by git here (.gitignore: /.whl/, /data/)" >&2; exit 2; }; done
# The data first: without it every stage fails; without the wheels only a device image lacking Lightning does.
cp -u /usr/share/datasets/fashion-mnist/*.gz data/fashion-mnist-gz/ \
  || { echo "error: no Fashion-MNIST in /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)" >&2; exit 2; }
# shellcheck disable=SC2086
if ! $PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl \
  pytorch-lightning==2.6.6 lightning-utilities==0.15.3 torchmetrics==1.9.0 pyyaml==6.0.4 2>&1 \
  | { grep -v 'is ignored: it is neither a file nor a directory' || true; }; then
  echo "warning: the wheels could not be downloaded into .whl/; the device image's Lightning will have to do" >&2
fi
tree_bytes=$(git ls-files -z -co --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
carry_bytes=$(du -cb .whl data/fashion-mnist-gz | tail -1 | cut -f1)
du -b .whl/* data/fashion-mnist-gz/*
echo "working tree that travels: $tree_bytes bytes; carried: $carry_bytes bytes;" \
  "together $(( (tree_bytes + carry_bytes) / 1048576 )) MiB of 64 MiB"
[ $(( tree_bytes + carry_bytes )) -lt $(( 64 * 1048576 )) ]
