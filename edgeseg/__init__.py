"""edgeseg: medical image segmentation from PyTorch training to TensorRT engines on CUDA GPUs and Jetson.

Layout (docs/architecture.md): `models`, `data`, `train`, `metrics.py`,
`export` (ONNX, fp16, int8 QDQ, parity, bundle), `engines` (targets, build plans, the TensorRT build;
kept out of `export`, which needs PyTorch, so a Jetson builds engines without it), `runtime`
(torch-free), `bench`, `cli`. `manifest.py` and `checkpoint.py` sit at the top, not in `export` and
`train`, because several packages read them (the runtime and `engines` the manifest; training,
export and bench the checkpoint); `files.py` holds the atomic writes (temp file + rename) that every
output goes through.
"""

__version__ = "0.1.0"
