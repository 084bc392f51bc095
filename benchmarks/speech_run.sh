# Sourced by benchmarks/speech_runs.sh and benchmarks/speech_pretrained.sh (run from the repository
# root): the corpora's folders and `run NAME ARGS...`, one `rnnkit speech train` into runs/NAME
# (its log runs/NAME.log), skipped when runs/NAME/results.json says it finished.
fsdd=${FSDD:-../shared/data/fsdd}
ocean=${SPEECHOCEAN:-../shared/data/speechocean762}
run() {  # NAME ARGS...
    name=$1; shift
    [ -f runs/$name/results.json ] && return 0
    /usr/bin/time -f "%e s wall" .venv/bin/rnnkit speech train --out runs/$name --restart "$@" > runs/$name.log 2>&1
}
