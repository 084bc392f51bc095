#!/bin/sh
# The figures of docs/activity.md (issue 28): the ensemble preset on AS1, AS2, AS3 and all 20 actions
# (cross-subject), the baseline on each run's split, and BasicMotions. From the repository root:
#   flock /tmp/rnnkit-cpu.lock sh benchmarks/activity_final.sh
set -e
out=runs/act-final
mkdir -p $out
for s in AS1 AS2 AS3 all; do
    /usr/bin/time -f "%e s wall" .venv/bin/rnnkit activity train --preset ensemble --subset $s --out $out/$s --restart \
        > $out/$s.log 2>&1
    .venv/bin/rnnkit activity baseline $out/$s >> $out/$s.log 2>&1
done
aeon=$(.venv/bin/python -c "import aeon.datasets, os; print(os.path.dirname(aeon.datasets.__file__))")/data/BasicMotions
/usr/bin/time -f "%e s wall" .venv/bin/rnnkit activity train --ts $aeon/BasicMotions_TRAIN.ts \
    --test $aeon/BasicMotions_TEST.ts --out $out/basicmotions --restart > $out/basicmotions.log 2>&1
.venv/bin/rnnkit activity baseline $out/basicmotions >> $out/basicmotions.log 2>&1
