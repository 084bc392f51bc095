#!/bin/sh
# Speaker-independent digits from an encoder pretrained on speechocean762's 250 voices (docs/speech.md,
# "Starting from speechocean762's voices"; issue 29). Run from the repository root, one thread:
#     OMP_NUM_THREADS=1 flock /tmp/rnnkit-cpu.lock sh benchmarks/speech_pretrained.sh
# The sentences runs read speechocean762 at FSDD's features (8 kHz, 20 MFCCs up to 4 kHz); every
# FSDD run has a fixed number of epochs, so that a busy CPU changes its time, not its result.
# Each run writes runs/NAME (results.json) and runs/NAME.log; a finished run is skipped.
set -e
. benchmarks/speech_run.sh  # fsdd, ocean, run NAME ARGS...
at_fsdd="--set features.sample_rate=8000 --set features.fmax=4000 --set features.cepstra=20 --set lm_order=0"
# 1. the digits preset's shape (20 MFCCs a 10 ms step, BiLSTM 64), as a character CTC model
run so8k-digitshape --task sentences --data $ocean --epochs 100 --minutes 30 $at_fsdd --set features.stack=1 \
    --set model.projection=64 --set model.hidden_size=64 --set model.num_layers=1 --set model.dropout=0.2 \
    --set masks.freq_masks=1 --set masks.freq_width=6
run loso60-none --task digits --loso --data $fsdd --epochs 60
run loso60-init --task digits --loso --data $fsdd --epochs 60 --init runs/so8k-digitshape
# (a third run, the pretrained layers at a fifth of the learning rate, needs commit 6030843's init_lr_scale)
# 2. the sentences preset's shape (4 frames a step, 3 x BiLSTM 128), and digits at that shape
run so8k-big --task sentences --data $ocean --epochs 60 $at_fsdd
shape="--set features.stack=4 --set model.projection=160 --set model.hidden_size=128 --set model.num_layers=3 \
    --set masks.time_width=2"
big="--task digits --loso --data $fsdd --epochs 60 $shape"
run loso60-big-none $big
run loso60-big-init $big --init runs/so8k-big
# 3. the mean of the four runs, fold by fold (nothing trained)
[ -f runs/loso60-ensemble.md ] || .venv/bin/python benchmarks/speech_loso_ensemble.py --data $fsdd \
    runs/loso60-none runs/loso60-big-none runs/loso60-init runs/loso60-big-init > runs/loso60-ensemble.md
# 4. the same four on the dataset's split (recordings 0-4 test), and their mean
split="--task digits --data $fsdd --epochs 60"
run split60-none $split
run split60-init $split --init runs/so8k-digitshape
run split60-big-none $split $shape
run split60-big-init $split $shape --init runs/so8k-big
[ -f runs/split60-ensemble.md ] || .venv/bin/python benchmarks/speech_loso_ensemble.py --data $fsdd \
    runs/split60-none runs/split60-big-none runs/split60-init runs/split60-big-init > runs/split60-ensemble.md
