"""Data: image files, folder and synthetic datasets (numpy only, torch-free), transforms."""
