"""Install gan_jax: `pip install -e .` (training) or `pip install -e '.[test]'`."""
from setuptools import find_packages, setup

setup(
    name="gan_jax",
    version="0.1.0",
    description="Functional JAX/Flax research codebase for generative adversarial networks.",
    python_requires=">=3.10",
    packages=find_packages(include=["gan_jax", "gan_jax.*"]),
    package_data={"gan_jax": ["assets/*.npz", "cpu/csrc/*.cc", "cpu/csrc/*.h"]},
    install_requires=[
        "jax>=0.8",
        "jaxlib>=0.8",
        "flax>=0.10",
        "optax>=0.2.4",
        "orbax-checkpoint>=0.11",
        "tensorflow-datasets>=4.9.8",
        "array-record>=0.7",
        "ml-collections>=1.0",
        "absl-py>=2.0",
        "numpy>=1.26",
        "pillow>=10.0",
        "scipy>=1.11",
        "scikit-learn>=1.3",
        "tensorboardX>=2.6",
        # oneDNN's headers and library (CPU, GNU OpenMP): gan_jax/cpu/native.py compiles
        # its convolution kernel-gradient handler against them (the version tested here).
        "onednn-devel-cpu-gomp==2023.2.0; platform_system == 'Linux' and "
        "platform_machine == 'x86_64'",
    ],
    extras_require={
        # torch/torchvision only as independent references in tests and benchmarks,
        # and for converting pytorch-fid weights. Versions are the ones tested here.
        "test": [
            "pytest>=8",
            "pytest-xdist>=3",  # the suite runs on 2 workers (pytest.ini), one per core here
            "torch==2.14.1",
            "torchvision==0.29.1",
            "pytorch-fid==0.3.0",
        ],
        "torch": ["torch==2.14.1", "pytorch-fid==0.3.0"],
    },
)
