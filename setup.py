"""The package layout and the optional C fast path; the rest of the metadata lives in
pyproject.toml.

`blocklists/` stays at the top of the source tree (it is the user's folder of lists) and is
installed as the package `agent.blocklists`, so the shipped data is found with
`importlib.resources` however HouseRules was installed.

Without a compiler or the Python headers (a Pi without python3-dev) the extensions are skipped
and HouseRules runs on the pure-Python hot path (and compiles its lists in Python, slower).
"""

from setuptools import Extension, find_namespace_packages, setup

setup(
    packages=find_namespace_packages(
        include=["agent", "agent.*", "dashboard", "dashboard.*", "houserules"], exclude=["*.__pycache__"]
    )
    + ["agent.blocklists"],
    package_dir={"agent.blocklists": "blocklists"},
    ext_modules=[
        Extension(
            "agent.dns._fastpath",
            ["agent/dns/_fastpath.c"],
            optional=True,
            extra_compile_args=["-O2"],
        ),
        Extension(
            "agent.lists._scan",
            ["agent/lists/_scan.c"],
            optional=True,
            extra_compile_args=["-O2"],
        ),
    ],
)
