"""TensorRT engines: target profiles, build plans, the build chain and the engine-inspector summary.

Torch-free, like the runtime: on a Jetson the engine is built on the device from a bundle made on a
workstation, and the device need not have PyTorch. `tensorrt`, `pycuda` and `polygraphy` are imported
lazily, only by `build.py` and `loaders.py` (and the runtime's `trt_info.py`, which both share);
everything else here is plain Python that the tests cover.
"""
