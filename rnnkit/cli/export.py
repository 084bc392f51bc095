"""``rnnkit export RUN --onnx FILE``: a trained run's model as one ONNX file (:mod:`rnnkit.export.onnx`).

Sentiment runs export the classifier; tagging runs export the emission model (the CRF decodes in
Python). Other runs are refused with a line saying what exports.
"""

from __future__ import annotations

import argparse

from . import catalog


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="write a trained run's model as an ONNX file (sentiment, tagging)",
        description="Write the model of RUN (its best weights) as one ONNX file with dynamic batch and "
        "length and exact masking, checked against PyTorch with onnxruntime before it is written. "
        f"Exports: {catalog.EXPORTABLE}. Needs the export extra: pip install -e '.[export]' (or make) "
        "in the rnnkit checkout.",
    )
    parser.add_argument("run", help="run directory (the --out of train)")
    parser.add_argument(
        "--onnx", required=True, metavar="FILE", help="the ONNX file to write (its folder is created)"
    )
    parser.add_argument("--force", action="store_true", help="replace FILE if it already exists")
    parser.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ..export import onnx as onnx_export

    info = onnx_export.export_onnx(args.run, args.onnx, overwrite=args.force)
    print(info.summary())
    return 0


__all__ = ["add_parser"]
