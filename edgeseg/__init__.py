"""edgeseg: medical image segmentation from PyTorch training to TensorRT engines on CUDA GPUs and Jetson."""

__version__ = "0.1.0"
