#!/bin/sh
# The runs behind docs/activity.md (issue 28): the preset on AS1-AS3 and all 20 actions, the ablations
# (chosen on the validation subject, s09, never the test subjects) and BasicMotions. Run from the
# repository root under the CPU lock: flock /tmp/rnnkit-cpu.lock sh benchmarks/activity_ablation.sh
# Each run writes runs/act/NAME (results.json) and runs/act/NAME.log.
set -e
out=runs/act
mkdir -p $out
run() {  # NAME SUBSET ARGS...
    name=$1; subset=$2; shift 2
    [ -f $out/$name/results.json ] && return 0
    .venv/bin/rnnkit activity train --subset $subset --out $out/$name --restart "$@" > $out/$name.log 2>&1
}
for s in AS1 AS2 AS3; do run $s-fast $s; done
for s in AS1 AS2 AS3; do
    run $s-noaug $s --set augment.rotate_deg=0 --set augment.scale=0 --set augment.stretch=0
    run $s-novel $s --set skeleton.velocity=false
    run $s-noview $s --set skeleton.rotate=false --set skeleton.scale=false
done
run all-fast all
aeon=$(.venv/bin/python -c "import aeon.datasets, os; print(os.path.dirname(aeon.datasets.__file__))")/data/BasicMotions
[ -f $out/basicmotions/results.json ] || .venv/bin/rnnkit activity train --ts $aeon/BasicMotions_TRAIN.ts \
    --test $aeon/BasicMotions_TEST.ts --out $out/basicmotions --restart > $out/basicmotions.log 2>&1
