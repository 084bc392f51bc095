"""Trained runs outside rnnkit: ONNX export (:mod:`rnnkit.export.onnx`), and running the files.

``rnnkit export RUN --onnx FILE`` on the command line; in Python::

    from rnnkit.export.onnx import OnnxPredictor, export_onnx

    info = export_onnx("runs/seed", "seed.onnx")           # sentiment or tagging runs
    predictor = OnnxPredictor.from_run("runs/seed", "seed.onnx")
    predictor(["A wonderful film."])                       # probabilities, as sentiment.Predictor

Importing this package imports neither onnx nor onnxruntime (optional: ``pip install -e
'.[export]'`` or ``make`` in the rnnkit checkout); :mod:`rnnkit.export.onnx` imports them when a
function needs them.
"""
