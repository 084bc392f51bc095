#!/bin/sh
# The test figures of docs/activity.md (issue 28): the preset `ensemble` (five members, each trained on
# every training subject with its own seed, the last epoch's weights) on AS1, AS2, AS3 and all 20
# actions, cross-subject, each subset trained once and its test subjects scored once; then the preset
# `fast` on aeon's BasicMotions. One thread, from the repository root (about 12 minutes here):
#   OMP_NUM_THREADS=1 flock /tmp/rnnkit-cpu.lock sh benchmarks/activity_final.sh [SUBSET...]
# PRESET=fused (the same members, each clip's answer fused with the logistic baseline's) trains that
# preset instead, into runs/act-final-fused; PRESET=fused3 (a quarter the members, a quarter the logistic,
# half 1-NN DTW) into runs/act-final-fused3.
set -e
preset=${PRESET:-ensemble}
out=runs/act-final
[ "$preset" = ensemble ] || out=runs/act-final-$preset
mkdir -p $out
for s in ${*:-AS1 AS2 AS3 all}; do
    echo "$s: training --preset $preset into $out/$s (log: $out/$s.log)"
    /usr/bin/time -f "%e s wall" .venv/bin/rnnkit activity train --preset $preset --subset $s --out $out/$s \
        --restart > $out/$s.log 2>&1
done
[ -n "$*" ] && exit 0
echo "BasicMotions: training into $out/basicmotions (log: $out/basicmotions.log)"
aeon=$(.venv/bin/python -c "import aeon.datasets, os; print(os.path.dirname(aeon.datasets.__file__))")/data/BasicMotions
/usr/bin/time -f "%e s wall" .venv/bin/rnnkit activity train --ts $aeon/BasicMotions_TRAIN.ts \
    --test $aeon/BasicMotions_TEST.ts --out $out/basicmotions --restart > $out/basicmotions.log 2>&1
.venv/bin/rnnkit activity baseline $out/basicmotions >> $out/basicmotions.log 2>&1
grep -h "test accuracy" $out/*.log
