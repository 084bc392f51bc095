#!/bin/sh
# The runs behind docs/speech.md (issue 29), each on a time budget that fits this 2-core CPU's share.
# Run from the repository root under the CPU lock:
#     flock /tmp/rnnkit-cpu.lock sh benchmarks/speech_runs.sh
# Each run writes runs/NAME (results.json) and runs/NAME.log; a finished run is skipped.
set -e
. benchmarks/speech_run.sh  # fsdd, ocean, run NAME ARGS...
run speech-digits --task digits --data $fsdd --minutes 2.5
run speech-sentences --task sentences --data $ocean --minutes 15
run speech-sentences-90 --task sentences --data $ocean --minutes 90 --epochs 300 --set augment.variants=2 \
    --set augment.speed=0.1 --set augment.warp=0.1 --set masks.time_width=12
run speech-digits-loso --task digits --loso --data $fsdd --minutes 1.6
# the digits recipes compared on the leave-one-speaker-out validation speakers (the preset: the last two)
run sd-loso-aug1 --task digits --loso --data $fsdd --minutes 1 --set features.cepstra=0 \
    --set augment.variants=4 --set augment.speed=0.15 --set augment.warp=0.1 --set augment.snr_db=0
run sd-loso-cep1 --task digits --loso --data $fsdd --minutes 1 \
    --set augment.variants=4 --set augment.speed=0.15 --set augment.warp=0.1 --set augment.snr_db=0
run sd-loso-cep2 --task digits --loso --data $fsdd --minutes 1
run sd-loso-long --task digits --loso --data $fsdd --minutes 1.6  # the chosen one: speech-digits-loso
# three seeds of the digits preset on the dataset's split, and their ensemble
[ -f runs/speech-digits-ens/ensemble.json ] || .venv/bin/python benchmarks/speech_digits_ensemble.py \
    --data $fsdd --out runs/speech-digits-ens --seeds 0,1,2 --minutes 2.5 > runs/speech-digits-ens.log 2>&1
run speech-strings --task strings --data $fsdd --minutes 6
run speech-strings-loso --task strings --loso --data $fsdd --minutes 2.5
# the real-time factor of one file (a 3.36 s test sentence), on the trained sentences run
[ -f runs/speech-rtf.md ] || .venv/bin/python benchmarks/speech_rtf.py runs/speech-sentences \
    $ocean/audio/SPEAKER0003/000030012.opus > runs/speech-rtf.md 2>&1
