"""Only the optional C fast path; every piece of metadata lives in pyproject.toml.

Without a compiler or the Python headers (a Pi without python3-dev) the extension is skipped
and HouseRules runs on the pure-Python hot path.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "agent._fastpath",
            ["agent/_fastpath.c"],
            optional=True,
            extra_compile_args=["-O2"],
        )
    ]
)
