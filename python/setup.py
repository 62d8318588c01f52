"""Builds coolfusion's Python extension (coolfusion._core) against a built or installed
libcoolfusion, with pybind11 from Debian (pybind11-dev, python3-pybind11):

    python3 -m venv --system-site-packages .venv
    .venv/bin/pip install --no-build-isolation --no-index ./python

Where the library comes from, the first that applies (docs/python.md):
  COOLFUSION_PREFIX=DIR     an installed prefix (cmake --install): DIR/lib*/pkgconfig/coolfusion.pc
  COOLFUSION_BUILD_DIR=DIR  a build tree (scripts/build.sh): DIR/lib/libcoolfusion.a, the
                            headers of the source tree it was configured from
  neither                   the checkout's build/ beside this directory, if it has the
                            library; else pkg-config's search path (an install in /usr/local)
The extension links the library statically (its symbols hidden: another llama.cpp in the
same process does not clash), and the package carries a copy of coolfusion-sandbox, the
child process that compiles grammars and JSON schemas.
"""

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

from pybind11.setup_helpers import ParallelCompile, Pybind11Extension
from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def fail(message):
    sys.exit("coolfusion: " + message)


def pkg_config(args, pc_path=None):
    env = dict(os.environ)
    if pc_path is not None:
        env["PKG_CONFIG_PATH"] = pc_path + os.pathsep + env.get("PKG_CONFIG_PATH", "")
    try:
        out = subprocess.run(["pkg-config", *args, "coolfusion"], env=env, check=True,
                             capture_output=True, text=True).stdout
    except FileNotFoundError:
        fail("pkg-config is not installed (apt-get install pkg-config)")
    except subprocess.CalledProcessError as e:
        fail("pkg-config " + " ".join(args) + " coolfusion failed: " + e.stderr.strip())
    return shlex.split(out)


def source_dir_of(build):
    """The source tree a CMake build directory was configured from."""
    try:
        with open(os.path.join(build, "CMakeCache.txt"), encoding="utf-8") as f:
            m = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", f.read(), re.M)
    except OSError:
        m = None
    if not m:
        fail(build + " is not a configured CMake build directory (no CMakeCache.txt)")
    return m.group(1)


def env_dir(name):
    """$name, which must be absolute: pip runs this script in its own directory."""
    d = os.environ.get(name)
    if d and not os.path.isabs(d):
        fail(name + "=" + d + " must be an absolute path (pip runs the build in " + HERE
             + "), e.g. " + name + "=$PWD/" + d)
    return d


def locate():
    """(pkg-config --cflags, pkg-config --static --libs, the sandbox, where from)."""
    prefix = env_dir("COOLFUSION_PREFIX")
    build = env_dir("COOLFUSION_BUILD_DIR")
    if not prefix and not build:
        default = os.path.join(HERE, "..", "build")
        if glob.glob(os.path.join(default, "lib", "libcoolfusion.*")):
            build = default
    if prefix:
        pcs = sorted(glob.glob(os.path.join(prefix, "lib*", "**", "pkgconfig", "coolfusion.pc"),
                               recursive=True))
        if not pcs:
            fail("COOLFUSION_PREFIX=" + prefix + " has no lib*/pkgconfig/coolfusion.pc: "
                 "cmake --install BUILD_DIR --prefix " + prefix + " first")
        pc_dir = os.path.dirname(pcs[0])
        cflags = pkg_config(["--cflags"], pc_dir)
        libs = pkg_config(["--static", "--libs"], pc_dir)
        return cflags, libs, os.path.join(prefix, "bin", "coolfusion-sandbox"), prefix
    if build:
        build = os.path.normpath(build)
        if not glob.glob(os.path.join(build, "lib", "libcoolfusion.*")):
            fail("COOLFUSION_BUILD_DIR=" + build + " has no lib/libcoolfusion.a: build it "
                 "first (scripts/build.sh)")
        include = os.path.join(source_dir_of(build), "include")
        # The build's coolfusion.pc, its prefix being the build directory (lib/ is there)
        libs = pkg_config(["--static", "--libs", "--define-variable=prefix=" + build], build)
        return ["-I" + include], libs, os.path.join(build, "bin", "coolfusion-sandbox"), build
    cflags = pkg_config(["--cflags"])
    libs = pkg_config(["--static", "--libs"])
    prefix = pkg_config(["--variable=prefix"])[0]
    return cflags, libs, os.path.join(prefix, "bin", "coolfusion-sandbox"), prefix


def extension():
    cflags, libs, sandbox, origin = locate()
    include_dirs = [f[2:] for f in cflags if f.startswith("-I")]
    library_dirs = [f[2:] for f in libs if f.startswith("-L")]
    libraries = [f[2:] for f in libs if f.startswith("-l")]
    other = [f for f in libs if not f.startswith(("-L", "-l"))]
    archive = None
    for d in library_dirs:
        for name in ("libcoolfusion.a", "libcoolfusion.so"):
            if archive is None and os.path.exists(os.path.join(d, name)):
                archive = os.path.join(d, name)
    if archive is None:
        fail("no libcoolfusion.a or libcoolfusion.so in " + " ".join(library_dirs))
    runtime_dirs = []
    objects = []
    if archive.endswith(".a"):
        libraries.remove("coolfusion")
        objects.append(archive)  # before the -l flags: the linker reads it first
    else:
        runtime_dirs.append(os.path.dirname(archive))
    print("coolfusion: linking " + archive + " (from " + origin + ")")
    ext = Pybind11Extension(
        "coolfusion._core",
        sorted(glob.glob(os.path.join("src", "*.cc"))),
        include_dirs=include_dirs,
        library_dirs=library_dirs,
        libraries=libraries,
        runtime_library_dirs=runtime_dirs,
        extra_objects=objects,
        # llama.cpp's symbols stay inside the extension
        extra_link_args=["-Wl,--exclude-libs,ALL"] + other,
        # relinked when the library or a header changes
        depends=[archive] + sorted(glob.glob(os.path.join("src", "*.h")))
        + sorted(h for d in include_dirs or ["/usr/include"]
                 for h in glob.glob(os.path.join(d, "coolfusion", "*.h"))),
        extra_compile_args=["-Wextra", "-Wno-missing-field-initializers"],  # and -Wall
        cxx_std=20,
    )
    return ext, sandbox


class BuildExt(build_ext):
    """build_ext that also puts coolfusion-sandbox beside the extension."""

    def run(self):
        super().run()
        target = os.path.join(os.path.dirname(self.get_ext_fullpath("coolfusion._core")),
                              "coolfusion-sandbox")
        if os.path.exists(SANDBOX):
            shutil.copy2(SANDBOX, target)
        else:
            print("coolfusion: warning: no " + SANDBOX + ": grammar= and json_schema= "
                  "will raise RuntimeError (set COOLFUSION_SANDBOX to one)", file=sys.stderr)


os.chdir(HERE)
ParallelCompile("COOLFUSION_BUILD_JOBS", default=0).install()
EXTENSION, SANDBOX = extension()
setup(
    packages=["coolfusion"],
    package_data={"coolfusion": ["py.typed", "*.pyi"]},
    ext_modules=[EXTENSION],
    cmdclass={"build_ext": BuildExt},
)
