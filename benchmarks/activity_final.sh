#!/bin/sh
# The figures of docs/activity.md (issue 28): the ensemble preset on all 20 actions and AS1
# (cross-subject; AS2 and AS3's members are the ep100 runs of benchmarks/activity_sweep.py, the same
# splits, seeds and settings), the baseline on each run's split, and BasicMotions. From the repository root:
#   flock /tmp/rnnkit-cpu.lock sh benchmarks/activity_final.sh
set -e
out=runs/act-final
mkdir -p $out
for s in all AS1; do  # AS2, AS3: the same members as the sweep's ep100 runs (docs)
    /usr/bin/time -f "%e s wall" .venv/bin/rnnkit activity train --preset ensemble --subset $s --out $out/$s --restart \
        > $out/$s.log 2>&1
    .venv/bin/rnnkit activity baseline $out/$s >> $out/$s.log 2>&1
done
aeon=$(.venv/bin/python -c "import aeon.datasets, os; print(os.path.dirname(aeon.datasets.__file__))")/data/BasicMotions
/usr/bin/time -f "%e s wall" .venv/bin/rnnkit activity train --ts $aeon/BasicMotions_TRAIN.ts \
    --test $aeon/BasicMotions_TEST.ts --out $out/basicmotions --restart > $out/basicmotions.log 2>&1
.venv/bin/rnnkit activity baseline $out/basicmotions >> $out/basicmotions.log 2>&1
